import type { z } from 'zod';
import type { HooksConfig } from '../config/hooks-schema.js';
import { globMatch } from '../util/glob.js';
import { HookClient, type HookClientDeps } from './hook-client.js';
import { ConnectAnswer, PublishAnswer, RefreshAnswer, SubscribeAnswer, type HookName } from './messages.js';

export interface ChannelHooks {
  readonly subscribe: boolean;
  readonly publish: boolean;
}

const NONE: ChannelHooks = Object.freeze({ subscribe: false, publish: false });

/**
 * The hooks a gateway calls, each undefined while its URL is unset, and which channels the
 * subscribe and publish hooks apply to (first matching `hooks.channels` pattern, else `hooks.defaults`).
 */
export class Hooks {
  readonly connect: HookClient<ConnectAnswer> | undefined;
  readonly refresh: HookClient<RefreshAnswer> | undefined;
  readonly subscribe: HookClient<SubscribeAnswer> | undefined;
  readonly publish: HookClient<PublishAnswer> | undefined;
  private readonly defaults: ChannelHooks;
  private readonly rules: ReadonlyArray<{ readonly pattern: string; readonly hooks: ChannelHooks }>;

  constructor(
    config: HooksConfig,
    deps: Omit<HookClientDeps, 'maxResponseBytes' | 'secret'>,
  ) {
    const all = { ...deps, maxResponseBytes: config.maxResponseBytes, secret: config.secret };
    const make = <A extends { allow: boolean }>(name: HookName, schema: z.ZodType<A>): HookClient<A> | undefined =>
      config[name].url === '' ? undefined : new HookClient(name, config[name], schema, all);
    this.connect = make('connect', ConnectAnswer);
    this.refresh = make('refresh', RefreshAnswer);
    this.subscribe = make('subscribe', SubscribeAnswer);
    this.publish = make('publish', PublishAnswer);
    const select = (wanted: ChannelHooks): ChannelHooks =>
      Object.freeze({ subscribe: this.subscribe !== undefined && wanted.subscribe, publish: this.publish !== undefined && wanted.publish });
    this.defaults = select(config.defaults);
    this.rules = config.channels.map((rule) => ({ pattern: rule.pattern, hooks: select(rule) }));
  }

  /** Which channel hooks a channel's requests go through. */
  forChannel(ch: string): ChannelHooks {
    if (this.subscribe === undefined && this.publish === undefined) return NONE;
    for (const rule of this.rules) if (globMatch(rule.pattern, ch)) return rule.hooks;
    return this.defaults;
  }

  /** The clients configured, by name (metrics). */
  *clients(): IterableIterator<HookClient<{ allow: boolean }>> {
    for (const client of [this.connect, this.refresh, this.subscribe, this.publish]) if (client !== undefined) yield client;
  }

  close(): void {
    for (const client of this.clients()) client.close();
  }
}
