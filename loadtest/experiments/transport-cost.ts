/**
 * Gateway CPU per delivery, transports side by side: 1 publisher → 1,000 subscribers, 1 KiB messages
 * at a fixed offered rate, one fresh gateway per transport in turn (pinned to CPU 0, the generator's
 * threads to CPU 1). The figure to read is µs of gateway CPU (user + system, from /proc) per delivery:
 * on a loaded machine the gateway gets a share of its core and delivers less than offered, but what
 * it spends per delivery moves far less than its rate.
 *
 *   npx tsx loadtest/experiments/transport-cost.ts [rate=1800] [seconds=3] [transports=ws,uws] [slowFraction=0] [policy=disconnect] [size=1024]
 *
 * `raw-ws` among the transports runs the bench's raw ws baseline (framed once, corked until the
 * turn's end) in the same way, for a side-by-side reference.
 *
 * With STRACE=<prefix> it attaches `strace -c -f` to each gateway for its run and writes the syscall
 * counts to <prefix>-<transport>.txt; with CPU_PROFILE_DIR set, each gateway writes a V8 CPU profile there. Each gateway's pid is printed first, to attach perf or strace by hand.
 * Bounded: rate ≤ 5,000 msg/s, ≤ 10 s each, at most 6 runs.
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { pinSelf, spawnServer, SLUICE_CLI } from '../../devkit/process.js';
import { runLoad } from '../tool/runner.js';
import { BASE_KNOBS, OPEN_INBOUND, SCENARIOS } from '../tool/scenarios.js';
import { machine } from './transport-probe.js';

const RATE = Math.min(Number(process.argv[2] ?? 1800), 5000);
const SECONDS = Math.min(Number(process.argv[3] ?? 3), 10);
const TRANSPORTS = (process.argv[4] ?? 'ws,uws').split(',').slice(0, 6);
const SLOW = Number(process.argv[5] ?? 0);
const POLICY = process.argv[6] ?? 'disconnect';
const SIZE = Math.min(Number(process.argv[7] ?? 1024), 64 * 1024);
const SUBSCRIBERS = 1000;

const profileArgs = (transport: string): string[] => (process.env.CPU_PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', `${process.env.CPU_PROFILE_DIR}/${transport}`] : []);

const sluiceArgs = (transport: string): string[] => ['--transport', transport, '--host', '127.0.0.1', '--log.level', 'warn', '--log.healthSummaryIntervalMs', '0', '--channels', JSON.stringify([{ pattern: 'fanout.*', policy: POLICY }]), ...OPEN_INBOUND];

async function main(): Promise<void> {
  const pinned = pinSelf(1);
  console.log(`transport cost: 1 → ${SUBSCRIBERS} × ${SIZE} B at ${RATE} msg/s, ${SLOW * 100}% stopped, policy ${POLICY}, ${SECONDS} s; ${machine()}${pinned ? '; gateway on CPU 0, generator on CPU 1' : ''}`);
  for (const transport of TRANSPORTS) {
    const raw = transport === 'raw-ws';
    const server = await spawnServer(
      raw
        ? { script: 'loadtest/bench/servers/raw-ws.ts', args: ['framed'], portFlag: false, cpu: 0, nodeArgs: profileArgs(transport) }
        : { script: SLUICE_CLI, args: sluiceArgs(transport), portFlag: true, cpu: 0, nodeArgs: profileArgs(transport) },
      20_000,
    );
    console.log(`${transport}: gateway pid ${server.pid}`);
    try {
      const plan = SCENARIOS.fanout!.build({ ...BASE_KNOBS, subscribers: SUBSCRIBERS, size: SIZE, rate: RATE, slowFraction: SLOW, sampleEvery: Math.max(1, Math.ceil(RATE / 100)) }, 0);
      const load = loadavg()[0]!.toFixed(1);
      const strace = process.env.STRACE ? spawn('strace', ['-c', '-f', '-p', String(server.pid), '-o', `${process.env.STRACE}-${transport}.txt`], { stdio: 'ignore' }) : undefined;
      if (strace) await new Promise((r) => setTimeout(r, 1000));
      const r = await runLoad({ url: server.url, dialect: raw ? 'raw' : 'sluice', plan, durationMs: SECONDS * 1000, workers: 2, serverPid: server.pid, drainMs: 2000, connectPhaseMs: 60_000 });
      if (strace) {
        strace.kill('SIGINT');
        await new Promise((resolve) => strace.once('exit', resolve));
      }
      const perDelivery = r.server ? (r.server.cpuSeconds * 1e6) / Math.max(1, r.counters.deliveries) : NaN;
      const shed = r.counters.gapDropped + r.counters.gapConflated + r.counters.gapExpired;
      console.log(`${transport}: delivered ${(r.deliveriesPerSec / 1e6).toFixed(3)}M/s (${r.counters.deliveries}), gateway CPU ${r.server?.cpuSeconds} s = ${perDelivery.toFixed(2)} µs/delivery, shed ${shed}, p99 ${r.latency.p99} ms, generator CPU ${r.generator.cpuSeconds} s, load ${load}`);
    } finally {
      await server.stop(10_000);
    }
  }
}

await main();
process.exit(0);
