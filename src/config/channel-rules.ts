import type { ChannelRule, ChannelSettings, Config } from './schema.js';
import type { QueuePolicy } from '../protocol/policy.js';
import { globMatch } from '../util/glob.js';

/** Effective settings of one channel, shared by every channel matching the same rule. */
export interface ResolvedChannelSettings extends ChannelSettings {
  /** The pattern that matched, or `*` for the defaults. */
  readonly pattern: string;
  readonly queuePolicy: QueuePolicy;
}

/**
 * Maps channel names to their settings: the first rule whose pattern matches wins, missing fields
 * come from `channelDefaults`. `*` in a pattern matches any run of characters (dots included).
 * Every new channel name is matched, so matching is the linear-time glob (a crafted name against
 * a many-wildcard pattern costs at most pattern × name steps, never a backtracking blow-up).
 */
export class ChannelRules {
  private readonly rules: readonly ResolvedChannelSettings[];
  private readonly defaults: ResolvedChannelSettings;

  constructor(config: Pick<Config, 'channelDefaults' | 'channels'>) {
    this.defaults = resolve('*', config.channelDefaults, {});
    this.rules = config.channels.map((rule: ChannelRule) => resolve(rule.pattern, config.channelDefaults, rule));
  }

  settingsFor(channel: string): ResolvedChannelSettings {
    for (const rule of this.rules) if (globMatch(rule.pattern, channel)) return rule;
    return this.defaults;
  }
}

function resolve(pattern: string, defaults: ChannelSettings, rule: Partial<ChannelSettings>): ResolvedChannelSettings {
  const merged: ChannelSettings = {
    policy: rule.policy ?? defaults.policy,
    historySize: rule.historySize ?? defaults.historySize,
    historyTtlMs: rule.historyTtlMs ?? defaults.historyTtlMs,
    historyMaxBytes: rule.historyMaxBytes ?? defaults.historyMaxBytes,
    maxAgeMs: rule.maxAgeMs ?? defaults.maxAgeMs,
    keyed: rule.keyed ?? defaults.keyed,
    maxKeys: rule.maxKeys ?? defaults.maxKeys,
    keyedMaxBytes: rule.keyedMaxBytes ?? defaults.keyedMaxBytes,
    keyTtlMs: rule.keyTtlMs ?? defaults.keyTtlMs,
    snapshotChunkBytes: rule.snapshotChunkBytes ?? defaults.snapshotChunkBytes,
    contractMinRate: rule.contractMinRate ?? defaults.contractMinRate,
    contractMaxRate: rule.contractMaxRate ?? defaults.contractMaxRate,
    delta: rule.delta ?? defaults.delta,
    presence: rule.presence ?? defaults.presence,
    maxMembers: rule.maxMembers ?? defaults.maxMembers,
    presenceIntervalMs: rule.presenceIntervalMs ?? defaults.presenceIntervalMs,
    maxInfoBytes: rule.maxInfoBytes ?? defaults.maxInfoBytes,
  };
  return Object.freeze({ ...merged, pattern, queuePolicy: Object.freeze({ policy: merged.policy, maxAgeMs: merged.maxAgeMs }) });
}
