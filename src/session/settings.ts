import type { Config } from '../config/schema.js';
import type { InboundLimits } from '../flow/inbound-limiter.js';
import type { OutboundSettings } from './outbound-writer.js';

/** The inbound settings (config `inbound.*`, under the same names). */
export interface InboundSettings extends InboundLimits {
  readonly mode: 'reject' | 'pause';
  readonly rateLimitStrikes: number;
  readonly invalidFrameStrikes: number;
  readonly strikeWindowMs: number;
}

/**
 * What a session needs of the configuration, derived once per gateway and shared by every
 * connection; each setting keeps its config name.
 */
export interface SessionSettings {
  readonly inbound: InboundSettings;
  readonly outbound: OutboundSettings;
  /** `limits.maxSubscriptionsPerConnection`. */
  readonly maxSubscriptionsPerConnection: number;
  /** `limits.maxPendingPublishes`. */
  readonly maxPendingPublishes: number;
  /** `limits.maxHeldRequestBytes`. */
  readonly maxHeldRequestBytes: number;
  /** `auth.forbiddenStrikes`. */
  readonly forbiddenStrikes: number;
  /** `limits.framesPerTurn`. */
  readonly framesPerTurn: number;
  /** `limits.inboundMsPerTurn`. */
  readonly inboundMsPerTurn: number;
}

export function sessionSettings(config: Config): SessionSettings {
  const { inbound, outbound, limits, auth } = config;
  return {
    inbound,
    outbound,
    maxSubscriptionsPerConnection: limits.maxSubscriptionsPerConnection,
    maxPendingPublishes: limits.maxPendingPublishes,
    maxHeldRequestBytes: limits.maxHeldRequestBytes,
    forbiddenStrikes: auth.forbiddenStrikes,
    framesPerTurn: limits.framesPerTurn,
    inboundMsPerTurn: limits.inboundMsPerTurn,
  };
}
