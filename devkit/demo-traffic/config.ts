import type { ConfigInput } from '../../src/config/schema.js';

const KiB = 1024;

/**
 * The gateway settings the demo runs with: small queues and tight buckets so that every policy acts
 * within seconds on loopback, and channel rules that give each simulated application its policy.
 */
export const DEMO_CONFIG = {
  host: '127.0.0.1',
  inbound: {
    messagesPerSecond: 500,
    messagesBurst: 500,
    bytesPerSecond: 2048 * KiB,
    bytesBurst: 2048 * KiB,
    // A device that keeps ignoring rate_limited for a few seconds is cut off (4101); a merely chatty one is not.
    rateLimitStrikes: 4000,
    strikeWindowMs: 10_000,
  },
  outbound: {
    maxQueueBytes: 256 * KiB,
    maxQueueMessages: 2000,
    softQueueBytes: 192 * KiB,
    softLimitMs: 20_000,
  },
  channels: [
    { pattern: 'market.*', policy: 'conflate', historySize: 100 },
    { pattern: 'sensors.*', policy: 'drop-oldest', maxAgeMs: 500, historySize: 0 },
    { pattern: 'chat.*', policy: 'disconnect', historySize: 2000, historyTtlMs: 300_000 },
  ],
  // The console tells the story (see main.ts); the gateway's own log only reports errors.
  log: { level: 'error', healthSummaryIntervalMs: 0 },
} satisfies ConfigInput;
