/**
 * Server memory under slow consumers, per policy: N subscribers of which a share stop reading
 * (they never read after subscribing), while one publisher sends fixed-size messages at a fixed rate. Starts
 * a Sluice server per policy (pinned to CPU 0 when taskset exists), samples its RSS and CPU from
 * /proc, and prints one row per policy. Loopback only; every loop is bounded and it stops by itself.
 *
 *   npx tsx loadtest/experiments/slow-consumer-rss.ts [--subscribers 1000] [--slow 100] [--rate 2000]
 *       [--size 1024] [--seconds 30] [--policies drop-oldest,drop-newest,conflate,disconnect]
 *
 * Subscribers are raw-frame WebSocket clients that count frames by their headers, so the
 * generator costs as little as possible.
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { mustReadProc } from '../../devkit/proc.js';
import { hasTaskset, ONE_ADDRESS, pinSelf, ROOT, spawnServer } from '../../devkit/process.js';
import { readyStatus, until } from '../../devkit/until.js';
import { clientFrame, WireClient } from '../../devkit/wire-client.js';
import { stalledClients } from '../tool/stalled-clients.js';

const { values: args } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000' },
    slow: { type: 'string', default: '100' },
    rate: { type: 'string', default: '2000' },
    size: { type: 'string', default: '1024' },
    seconds: { type: 'string', default: '30' },
    policies: { type: 'string', default: 'drop-oldest,drop-newest,conflate,disconnect' },
  },
});
const SUBSCRIBERS = Number(args.subscribers);
const SLOW = Number(args.slow);
const RATE = Number(args.rate);
const SIZE = Number(args.size);
const SECONDS = Math.min(Number(args.seconds), 300);
const HAS_TASKSET = hasTaskset();

/** A subscriber or publisher that counts the data frames it receives; resolves once open. */
function countingClient(port: number): Promise<{ wire: WireClient; frames: () => number }> {
  let frames = 0;
  return new Promise((resolve, reject) => {
    const wire: WireClient = new WireClient({
      onOpen: () => resolve({ wire, frames: () => frames }),
      onFrame: () => void frames++,
      onClose: (code) => code === 0 && reject(new Error(`could not connect to port ${port}`)),
    });
    wire.connect(new URL(`ws://127.0.0.1:${port}/`), '/', 10_000);
  });
}

function metric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name) && !line.startsWith('#')) sum += Number(line.split(' ').pop());
  return sum;
}

async function runPolicy(policy: string) {
  const channels = JSON.stringify([{ pattern: 'feed.*', policy, historySize: 100 }]);
  // The publisher must not be the one limited: this measures the outbound side.
  const serverArgs = ['--host', '127.0.0.1', '--log.level', 'warn', '--channels', channels, '--inbound.messagesPerSecond', '0', '--inbound.bytesPerSecond', '0', ...ONE_ADDRESS];
  const server = await spawnServer({ script: 'dist/cli.js', args: serverArgs, portFlag: true, cpu: 0, onStderr: (line) => console.error(line) });
  const { port, pid } = server;
  try {
    await until(async () => (await readyStatus(server.httpUrl)) === 200, 'the server to be ready', 30_000, 100);
    const stalled = SLOW > 0 ? await stalledClients(port, SLOW, [JSON.stringify({ op: 'sub', ch: 'feed.x' })]) : undefined;
    const fast: Array<{ wire: WireClient; frames: () => number }> = [];
    for (let i = SLOW; i < SUBSCRIBERS; i++) {
      const c = await countingClient(port);
      c.wire.sendFrames(clientFrame(JSON.stringify({ op: 'sub', ch: 'feed.x' })));
      fast.push(c);
    }
    const publisher = await countingClient(port);
    const baseline = mustReadProc(pid);
    const pad = 'p'.repeat(Math.max(0, SIZE - 40));
    const frames = Array.from({ length: 10 }, (_, k) => clientFrame(JSON.stringify({ op: 'pub', ch: 'feed.x', key: `k${k}`, data: { pad } })));
    const metricsBefore = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const genCpuStart = process.cpuUsage();
    const started = Date.now();
    let sent = 0;
    let maxRss = 0;
    const rssSeries: number[] = [];
    const tick = 10;
    await new Promise<void>((resolve) => {
      let lastSample = started;
      const timer = setInterval(() => {
        const now = Date.now();
        const due = Math.min(RATE * SECONDS, Math.floor(((now - started) / 1000) * RATE));
        while (sent < due) publisher.wire.sendFrames(frames[sent++ % frames.length]!);
        if (now - lastSample >= 1000) {
          lastSample = now;
          const { rssBytes } = mustReadProc(pid);
          rssSeries.push(rssBytes);
          if (rssBytes > maxRss) maxRss = rssBytes;
        }
        if (now - started >= SECONDS * 1000) {
          clearInterval(timer);
          resolve();
        }
      }, tick);
    });
    const end = mustReadProc(pid);
    const elapsed = (Date.now() - started) / 1000;
    const genCpu = process.cpuUsage(genCpuStart);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const fastFrames = fast.reduce((n, c) => n + c.frames(), 0);
    const row = {
      policy,
      sent,
      seconds: Number(elapsed.toFixed(1)),
      serverCpuPct: Math.round(((end.cpuSeconds - baseline.cpuSeconds) / elapsed) * 100),
      rssStartMiB: Math.round(rssSeries[0]! / 2 ** 20),
      rssMaxMiB: Math.round(maxRss / 2 ** 20),
      rssEndMiB: Math.round(rssSeries[rssSeries.length - 1]! / 2 ** 20),
      publishedBySrv: metric(metrics, 'sluice_publications_total') - metric(metricsBefore, 'sluice_publications_total'),
      srvWritesPerSec: Math.round((metric(metrics, 'sluice_messages_out_total') - metric(metricsBefore, 'sluice_messages_out_total')) / elapsed),
      fastReadPerSec: Math.round(fastFrames / elapsed),
      generatorCpuPct: Math.round(((genCpu.user + genCpu.system) / 1e6 / elapsed) * 100),
      offeredPerSec: RATE * SUBSCRIBERS,
      queuedMiBNow: Math.round(metric(metrics, 'sluice_outbound_queue_bytes_sum') / 2 ** 20),
      shedDropped: metric(metrics, 'sluice_messages_shed_total{reason="dropped"}'),
      shedConflated: metric(metrics, 'sluice_messages_shed_total{reason="conflated"}'),
      shedExpired: metric(metrics, 'sluice_messages_shed_total{reason="expired"}'),
      closed4100: metric(metrics, 'sluice_disconnects_total{code="4100"}'),
      connectionsLeft: metric(metrics, 'sluice_connections '),
    };
    for (const c of fast) c.wire.destroy();
    stalled?.kill();
    publisher.wire.destroy();
    return row;
  } finally {
    server.child.kill('SIGKILL');
    await server.exited;
  }
}

async function main(): Promise<void> {
  pinSelf(1);
  // Measure the compiled server, as deployed (not the tsx loader).
  if (spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' }).status !== 0) throw new Error('build failed');
  console.log(
    `machine: ${cpus()[0]?.model} × ${cpus().length}, node ${process.version}; ${HAS_TASKSET ? 'server on CPU 0, generator on CPU 1' : 'unpinned'}; ` +
      `${SUBSCRIBERS} subscribers (${SLOW} not reading), ${RATE} msg/s × ${SIZE} B for ${SECONDS} s`,
  );
  const rows = [];
  for (const policy of args.policies!.split(',')) {
    const row = await runPolicy(policy);
    console.log(JSON.stringify(row));
    rows.push(row);
  }
  console.table(rows);
  process.exit(0);
}

void main();
