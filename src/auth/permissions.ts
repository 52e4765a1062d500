import type { AccessRule, AuthConfig } from '../config/security-schema.js';
import { CHANNEL_NAME } from '../protocol/channel-name.js';
import { globMatch } from '../util/glob.js';
import type { Identity } from './identity.js';

/** Why an operation was refused (for the log line); undefined means allowed. */
export type Refusal = string | undefined;

interface CompiledRule {
  readonly pattern: string;
  readonly subscribe: AccessRule['subscribe'];
  readonly publish: AccessRule['publish'];
  readonly presence: AccessRule['presence'];
  /** For personal (`{sub}`) namespaces: the literal parts around the subject. */
  readonly personal?: { readonly prefix: string; readonly suffix: string; readonly delimiter: string };
  /** The glob that decides whether a channel belongs to this namespace. */
  readonly match: string;
}

/**
 * Who may subscribe and publish where. Namespaces (first matching pattern wins, else the
 * defaults) set the access mode per operation; token grants open `granted` namespaces; personal
 * `{sub}` namespaces are reserved to the user whose token subject fills the placeholder.
 * With auth off, everything is allowed except publishing to `server` namespaces.
 */
export class Permissions {
  private readonly rules: CompiledRule[];
  private readonly defaults: CompiledRule;

  constructor(
    auth: Pick<AuthConfig, 'namespaces' | 'defaults'>,
    private readonly enabled: boolean,
  ) {
    this.rules = auth.namespaces.map(compile);
    this.defaults = { pattern: '*', match: '*', subscribe: auth.defaults.subscribe, publish: auth.defaults.publish, presence: auth.defaults.presence };
  }

  /** Some namespace admits connections without a token. */
  get allowsAnonymous(): boolean {
    return [...this.rules, this.defaults].some((r) => r.subscribe === 'anyone' || r.publish === 'anyone');
  }

  canSubscribe(identity: Identity, channel: string): Refusal {
    if (!this.enabled) return undefined;
    const rule = this.ruleFor(channel);
    return this.personalRefusal(rule, identity, channel) ?? modeRefusal(rule.subscribe, identity, identity.grants.sub, channel, rule);
  }

  /** Listing members and counts (docs/presence.md): the namespace's `presence` mode, by default its subscribe mode. */
  canSeePresence(identity: Identity, channel: string): Refusal {
    if (!this.enabled) return undefined;
    const rule = this.ruleFor(channel);
    if (rule.presence === 'subscribe') return this.canSubscribe(identity, channel);
    return this.personalRefusal(rule, identity, channel) ?? modeRefusal(rule.presence, identity, identity.grants.sub, channel, rule);
  }

  /** Client publishes only; the HTTP API is not subject to namespaces. */
  canPublish(identity: Identity, channel: string): Refusal {
    const rule = this.ruleFor(channel);
    if (rule.publish === 'server') return `server-only namespace ${rule.pattern}`;
    if (!this.enabled) return undefined;
    return this.personalRefusal(rule, identity, channel) ?? modeRefusal(rule.publish, identity, identity.grants.pub, channel, rule);
  }

  private ruleFor(channel: string): CompiledRule {
    for (const rule of this.rules) if (globMatch(rule.match, channel)) return rule;
    return this.defaults;
  }

  private personalRefusal(rule: CompiledRule, identity: Identity, channel: string): Refusal {
    const personal = rule.personal;
    if (personal === undefined) return undefined;
    const sub = identity.sub;
    // A subject that could not appear in a channel name, or that contains the delimiter after
    // {sub}, would make the owner of a channel ambiguous: such a user owns no personal channel.
    if (sub === undefined || !CHANNEL_NAME.test(sub) || (personal.delimiter !== '' && sub.includes(personal.delimiter))) {
      return `personal namespace ${rule.pattern}: not the owner`;
    }
    if (!channel.startsWith(personal.prefix + sub)) return `personal namespace ${rule.pattern}: not the owner`;
    const rest = channel.slice(personal.prefix.length + sub.length);
    if (!globMatch(personal.suffix, rest)) return `personal namespace ${rule.pattern}: not the owner`;
    return undefined;
  }
}

function modeRefusal(mode: Exclude<AccessRule['publish'] | AccessRule['presence'], 'subscribe'>, identity: Identity, grants: readonly string[], channel: string, rule: CompiledRule): Refusal {
  switch (mode) {
    case 'anyone':
      return undefined;
    case 'authenticated':
      return identity.authenticated ? undefined : `namespace ${rule.pattern} needs a token`;
    case 'granted':
      if (!identity.authenticated) return `namespace ${rule.pattern} needs a token`;
      for (const grant of grants) if (globMatch(grant, channel)) return undefined;
      return `no grant covers ${channel}`;
    case 'server':
      return `server-only namespace ${rule.pattern}`;
  }
}

function compile(rule: AccessRule): CompiledRule {
  const at = rule.pattern.indexOf('{sub}');
  if (at < 0) return { pattern: rule.pattern, match: rule.pattern, subscribe: rule.subscribe, publish: rule.publish, presence: rule.presence };
  const prefix = rule.pattern.slice(0, at);
  const suffix = rule.pattern.slice(at + '{sub}'.length);
  return {
    pattern: rule.pattern,
    match: `${prefix}*${suffix}`,
    subscribe: rule.subscribe,
    publish: rule.publish,
    presence: rule.presence,
    personal: { prefix, suffix, delimiter: suffix.charAt(0) },
  };
}
