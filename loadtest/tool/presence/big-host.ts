import { loadConfig } from '../../../src/config/load.js';
import { Gateway } from '../../../src/gateway.js';

/**
 * The gateway of the presence benchmark's large channel, as a child process: channel `big` holds
 * `members` members and `small` `smallMembers`, put in the member tables through the node's presence API
 * (the table a real subscription fills; 100,000 real sockets do not fit one loopback machine's
 * file descriptors and ports). Prints `{"msg":"listening","port":…}` once ready; exits on SIGTERM.
 *
 *   npx tsx loadtest/tool/presence/big-host.ts <members> <smallMembers> <ws|uws>
 */

const members = Number(process.argv[2] ?? 100_000);
const smallMembers = Number(process.argv[3] ?? 1000);
const transport = process.argv[4] === 'uws' ? 'uws' : 'ws';
const config = loadConfig({
  overrides: {
    host: '127.0.0.1',
    port: 0,
    transport,
    log: { level: 'warn', healthSummaryIntervalMs: 0 },
    inbound: { messagesPerSecond: 0, bytesPerSecond: 0 },
    channels: [{ pattern: 'big', presence: true, maxMembers: 0 }, { pattern: 'small', presence: true, maxMembers: 0 }],
  },
});
const gateway = await Gateway.start({ config });
for (const [ch, n] of [['big', members], ['small', smallMembers]] as const) {
  const settings = gateway.presence.settingsFor(ch);
  for (let i = 0; i < n; i++) gateway.presence.join(ch, settings, `user-${i}`, `{"name":"User ${i}"}`);
}
// Flush the joins now, so no flush of 100,000 pending changes falls in a measured phase.
gateway.presence.tick();
process.stdout.write(`${JSON.stringify({ msg: 'listening', port: gateway.port, members: gateway.presence.total('big') })}\n`);
process.once('SIGTERM', () => {
  void gateway.shutdown().finally(() => process.exit(0));
});
