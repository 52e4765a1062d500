/**
 * Server memory per idle connection, ws vs uws, side by side in one run.
 *
 *   npx tsx loadtest/experiments/idle-connections.ts [connections=10000]
 *
 * For each transport: start Sluice, sample its RSS, open N raw WebSocket connections from this
 * process (each waits for its hello), let it settle, sample RSS again, close everything. Reports
 * (RSS after - RSS before) / N. The heartbeat is set far longer than the run so that idle
 * connections see no pings. Bounded: N ≤ 20,000, every wait has a deadline, the script exits by itself.
 */
import { execSync } from 'node:child_process';
import { machine, openClients, startSluice } from './transport-probe.js';

const N = Math.min(Number(process.argv[2] ?? 10_000), 20_000);
const TRANSPORTS = ['ws', 'uws'] as const;
const SETTLE_MS = 3_000;

function fdLimit(): number {
  return Number(execSync('ulimit -n', { shell: '/bin/bash' }).toString().trim());
}

async function measure(transport: string): Promise<{ before: number; after: number }> {
  const server = await startSluice([
    '--transport', transport,
    '--limits.maxConnections', String(N + 100),
    '--heartbeat.intervalMs', '300000',
    '--heartbeat.idleTimeoutMs', '600000',
    '--log.healthSummaryIntervalMs', '0',
  ]);
  try {
    // Warm up (JIT, first allocations) with a few connections before the baseline.
    const warm = await openClients(server.port, 50, 50);
    for (const c of warm) c.destroy();
    await new Promise((r) => setTimeout(r, 1_000));
    const before = server.rss();
    const deadline = setTimeout(() => {
      console.error(`timed out opening ${N} connections`);
      process.exit(1);
    }, 120_000);
    const clients = await openClients(server.port, N, 500);
    clearTimeout(deadline);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const after = server.rss();
    for (const c of clients) c.destroy();
    return { before, after };
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const limit = fdLimit();
  if (limit < N + 1000) {
    console.error(`ulimit -n is ${limit}; ${N} connections need more: run  bash -c 'ulimit -n ${N * 2 + 2000} && npx tsx loadtest/experiments/idle-connections.ts ${N}'`);
    process.exit(2);
  }
  console.log(`idle connections: ${N} per transport; ${machine()}`);
  const rows: Array<{ transport: string; before: number; after: number; perConn: number }> = [];
  for (const transport of TRANSPORTS) {
    const { before, after } = await measure(transport);
    rows.push({ transport, before, after, perConn: (after - before) / N });
  }
  const mb = (b: number) => (b / 2 ** 20).toFixed(1);
  console.log('transport  rss-before-MiB  rss-after-MiB  bytes/connection');
  for (const r of rows) console.log(`${r.transport.padEnd(9)}  ${mb(r.before).padStart(14)}  ${mb(r.after).padStart(13)}  ${Math.round(r.perConn).toString().padStart(16)}`);
  const [ws, uws] = rows;
  console.log(`uws/ws bytes per connection: ${(uws!.perConn / ws!.perConn).toFixed(2)}`);
}

await main();
process.exit(0);
