/**
 * The dashboard's own cost: gateway CPU with a dashboard viewer connected versus none, at the same
 * simulated load, in alternating phases of one run (so drift in the machine hits both sides alike).
 *
 *   npx tsx loadtest/experiments/dashboard-cost.ts [--rounds 4] [--phase 8] [--scale 0.5] [--idle 2000] [--build-only]
 *
 * The gateway runs in a child process (loadtest/demo/main.ts --no-traffic); load and the viewer run
 * here, so the child's CPU time (from /proc) is the gateway's alone. The viewer is a plain SSE
 * reader that parses every snapshot, as the page does; the browser's own rendering is not server cost.
 */
import { request } from 'node:http';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { startTraffic } from '../../devkit/demo-traffic/traffic.js';
import { mustReadProc } from '../../devkit/proc.js';
import { runNode } from '../../devkit/process.js';
import { until } from '../../devkit/until.js';
import { SnapshotBuilder, type DashboardConnection } from '../../src/dashboard/snapshot.js';
import { HealthAssessor } from '../../src/observability/health-summary.js';
import { Stats } from '../../src/observability/stats.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '4' },
    phase: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '12' },
    scale: { type: 'string', default: '0.5' },
    idle: { type: 'string', default: '2000' },
    'build-only': { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const phaseMs = Number(values.phase) * 1000;
const warmupMs = Number(values.warmup) * 1000;
const scale = Number(values.scale);
const idle = Number(values.idle);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function metric(base: string, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(`${base}/metrics`, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(body)?.[1] ?? NaN)));
    })
      .on('error', reject)
      .end();
  });
}

/** A dashboard viewer: reads the event stream and parses each snapshot. */
function openViewer(base: string, key: string): { snapshots: () => number; close: () => void } {
  let count = 0;
  let buffer = '';
  const req = request(`${base}/dashboard/events`, { headers: { Authorization: `Bearer ${key}` } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (event.startsWith('data: ')) {
          JSON.parse(event.slice(6));
          count++;
        }
      }
    });
  });
  req.on('error', () => {});
  req.end();
  return { snapshots: () => count, close: () => req.destroy() };
}

async function main(): Promise<void> {
  const totalS = Math.ceil((warmupMs + 2 * rounds * phaseMs) / 1000) + 30;
  const gateway = runNode({ script: 'loadtest/demo/main.ts', args: ['--port', '0', '--no-traffic', '--quiet', '--duration', String(totalS)], onStderr: (line) => console.error(line) });
  await until(() => gateway.stdout.includes('\n'), 'the demo gateway to print its port', 30_000);
  const { port, key } = JSON.parse(gateway.stdout.slice(0, gateway.stdout.indexOf('\n'))) as { port: number; key: string };
  const base = `http://127.0.0.1:${port}`;
  const url = `ws://127.0.0.1:${port}/`;

  const idlers: WebSocket[] = [];
  for (let i = 0; i < idle; i++) {
    const ws = new WebSocket(url);
    ws.on('error', () => {});
    idlers.push(ws);
    if (i % 200 === 199) await sleep(50);
  }
  const traffic = startTraffic(url, { scale });
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}; load: demo traffic x${scale} + ${idle} idle connections`);
  console.log(`warming up ${warmupMs / 1000} s, then ${rounds} rounds of ${phaseMs / 1000} s closed / ${phaseMs / 1000} s open\n`);
  await sleep(warmupMs);

  const results: Record<'closed' | 'open', { cpu: number; seconds: number; out: number }> = {
    closed: { cpu: 0, seconds: 0, out: 0 },
    open: { cpu: 0, seconds: 0, out: 0 },
  };
  console.log('phase    seconds  gateway CPU  msgs out/s  snapshots');
  for (let r = 0; r < rounds; r++) {
    for (const phase of ['closed', 'open'] as const) {
      const viewer = phase === 'open' ? openViewer(base, key) : undefined;
      const cpu0 = mustReadProc(gateway.pid).cpuSeconds;
      const out0 = await metric(base, 'sluice_messages_out_total');
      const t0 = performance.now();
      await sleep(phaseMs);
      const seconds = (performance.now() - t0) / 1000;
      const cpu = mustReadProc(gateway.pid).cpuSeconds - cpu0;
      const out = (await metric(base, 'sluice_messages_out_total')) - out0;
      viewer?.close();
      const acc = results[phase];
      acc.cpu += cpu;
      acc.seconds += seconds;
      acc.out += out;
      console.log(`${phase.padEnd(8)} ${seconds.toFixed(1).padStart(7)}  ${((cpu / seconds) * 100).toFixed(1).padStart(10)}%  ${(out / seconds).toFixed(0).padStart(10)}  ${String(viewer?.snapshots() ?? '-').padStart(9)}`);
    }
  }
  const closed = results.closed.cpu / results.closed.seconds;
  const open = results.open.cpu / results.open.seconds;
  console.log(`\ngateway CPU, dashboard closed: ${(closed * 100).toFixed(1)}% of a core (${(results.closed.out / results.closed.seconds).toFixed(0)} msgs out/s)`);
  console.log(`gateway CPU, dashboard open:   ${(open * 100).toFixed(1)}% of a core (${(results.open.out / results.open.seconds).toFixed(0)} msgs out/s)`);
  console.log(`open / closed: ${(open / closed).toFixed(3)}; difference ${((open - closed) * 1000).toFixed(1)} ms CPU per second (one snapshot per second)`);

  traffic.stop();
  for (const ws of idlers) ws.terminate();
  await gateway.stop();
}

/**
 * The part of the cost that grows with the node: one snapshot (scan every connection and channel,
 * rank, encode) timed in-process over synthetic connections and channels shaped like the real ones.
 */
function buildCost(): void {
  console.log('\nsnapshot build + JSON encode, in-process (the per-second work of the feed):');
  console.log('connections  channels  ms per snapshot (median)  bytes');
  // Two passes over the sizes, the first only to let the JIT settle (it reports nothing).
  for (const [pass, conns, chans] of [0, 1].flatMap((p) => [[p, 1_000, 1_000], [p, 10_000, 10_000], [p, 10_000, 100_000]] as const)) {
    const stats = new Stats();
    const connections: DashboardConnection[] = Array.from({ length: conns }, (_, i) => ({
      id: `c${i.toString(36)}`,
      socket: { remoteAddress: '127.0.0.1' },
      rateLimited: i % 97,
      messagesIn: i,
      subscriptionCount: 3,
      writer: { queuedBytes: (i * 7919) % 65_536, queuedMessages: i % 50, utilisation: ((i * 7919) % 65_536) / 1_048_576, oldestQueuedAt: () => 0, shed: { dropped: i, conflated: 0, expired: 0 }, receiveWindow: undefined },
    }));
    // One channel in a hundred is published between two snapshots; the rest are quiet.
    const channels = Array.from({ length: chans }, (_, i) => ({ name: `ch.${i}`, published: i * 3, subscribers: { size: i % 13 }, queuePolicy: { policy: 'drop-oldest' } }));
    const active = channels.filter((_, i) => i % 100 === 0);
    const queues = () => connections.map((c) => ({ id: c.id, utilisation: c.writer.utilisation, queuedBytes: c.writer.queuedBytes }));
    const source = { stats, transport: 'ws', connections: () => connections, channels: () => channels, channelCount: () => chans, publications: () => 0, connectionCount: () => conns, queues };
    const builder = new SnapshotBuilder(source, new HealthAssessor(source, () => performance.now()), () => performance.now());
    builder.reset();
    let bytes = 0;
    for (let i = 0; i < 50; i++) bytes = JSON.stringify(builder.build()).length;
    // Median of 7 batches: the machine is shared, and one slow batch should not decide the figure.
    const batches: number[] = [];
    for (let b = 0; b < 7; b++) {
      const t0 = performance.now();
      for (let i = 0; i < 10; i++) {
        for (const ch of active) ch.published += 5;
        JSON.stringify(builder.build());
      }
      batches.push((performance.now() - t0) / 10);
    }
    const ms = batches.sort((x, y) => x - y)[3]!;
    if (pass === 1) console.log(`${String(conns).padStart(11)}  ${String(chans).padStart(8)}  ${ms.toFixed(2).padStart(24)}  ${String(bytes).padStart(5)}`);
  }
}

if (values['build-only']) buildCost();
else void main().then(buildCost);
