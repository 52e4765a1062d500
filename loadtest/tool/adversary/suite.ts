import type { AttackTarget, Tally } from './attack-client.js';
import { CRAFTED_RULE, STALL_POLICIES, connectionFlood, craftedNames, publishFlood, resumeStorm, stalledSubscribers, subscriptionChurn, windowAbuse, type Scale } from './patterns-clients.js';
import { largeBodies, pingFlood, protocolViolations, slowloris } from './patterns-wire.js';

/**
 * The adversary suite: every way found so far for a client, a publisher or crafted input to get
 * past the gateway's memory budget or stall its event loop. `npm run loadtest -- adversary` runs
 * it against a spawned gateway and prints the table of docs/operations.md; test/loadtest/
 * adversary.test.ts runs a short version of it in `npm test`.
 */
export interface Pattern {
  readonly name: string;
  readonly what: string;
  run(target: AttackTarget, scale: Scale, tally: Tally): Promise<void>;
}

export const PATTERNS: readonly Pattern[] = [
  { name: 'publish-flood', what: '16 connections publish ~70 MiB to fresh channel names', run: publishFlood },
  { name: 'sub-churn', what: 'sub/unsub on fresh names, 4 connections', run: subscriptionChurn },
  { name: 'resume-storm', what: '1,000 clients resume a full history from seq 0 at once', run: resumeStorm },
  { name: 'stalled', what: 'subscribers that never read, 20 per policy, 4 MiB published per channel', run: stalledSubscribers },
  { name: 'window-abuse', what: 'smallest receive windows never reported on a busy channel; recv totals never written, ×2,000', run: windowAbuse },
  { name: 'slowloris', what: '200 requests trickling their head or body', run: slowloris },
  { name: 'large-bodies', what: '1 MiB − 1 byte bodies to every path, 10 each, held open', run: largeBodies },
  { name: 'ip-flood', what: '3,000 connections from one address', run: connectionFlood },
  { name: 'crafted-names', what: `200 publications to 128-character names against \`${CRAFTED_RULE}\``, run: craftedNames },
  { name: 'ping-flood', what: '20 non-reading peers, 20,000 WebSocket or protocol pings each', run: pingFlood },
  { name: 'violations', what: 'invalid UTF-8, reserved opcodes, bad framing, oversize, bad JSON, ×10', run: protocolViolations },
];

/** The bystander's channel: lossless (`disconnect`), with history enough to resume after a cut. */
export const BYSTANDER_CHANNEL = 'bystander.chat';

/** Channel rules of the gateway under attack (config `channels`). */
export const ADVERSARY_CHANNELS = [
  { pattern: 'bystander.*', policy: 'disconnect', historySize: 1000 },
  ...STALL_POLICIES.map((policy) => ({ pattern: `stall.${policy}`, policy })),
  { pattern: CRAFTED_RULE, policy: 'drop-oldest' },
];

export const ADVERSARY_API_KEY = 'adversary-api-key-0123456789';
export const ADVERSARY_ADMIN_KEY = 'adversary-admin-key-0123456789';

/** The gateway configuration the suite attacks, as config overrides; `budgetBytes` 0 leaves the budget key out. */
export function adversaryConfig(budgetBytes: number): Record<string, unknown> {
  return {
    channels: ADVERSARY_CHANNELS,
    httpApi: { apiKeys: [ADVERSARY_API_KEY] },
    dashboard: { enabled: true, adminKey: ADVERSARY_ADMIN_KEY },
    ...(budgetBytes > 0 ? { limits: { memoryBudgetBytes: budgetBytes } } : {}),
  };
}
