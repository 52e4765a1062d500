/**
 * The load generator's own ceiling: how many 1 KiB deliveries per second it counts, and how many per
 * second of its own CPU, against the cheapest sender there is — the raw ws baseline that frames each
 * message once and writes it corked to every socket (loopback). The server is pinned to CPU 0 and
 * this process (the generator's threads) to CPU 1, so "deliveries per generator-CPU-second" is what
 * one core of generator can count.
 *
 *   npx tsx loadtest/experiments/generator-ceiling.ts [rate=2000] [seconds=3] [subscribers=1000] [framed|batch]
 *
 * `batch`: the sender joins each loop turn's messages into one batch frame (raw ws `batch` mode, the
 * shape of Sluice's `sluice.batch` frames) and the subscribers count the events in them.
 *
 * Each of 1 and 2 worker threads in turn, each against a fresh sender. Bounded: the rate is capped
 * at 5,000 messages/s, the duration at 10 s, and every phase of the runner has a deadline.
 */
import { loadavg } from 'node:os';
import { pinSelf, spawnServer } from '../../devkit/process.js';
import { runLoad } from '../tool/runner.js';
import { BASE_KNOBS, SCENARIOS } from '../tool/scenarios.js';
import { machine } from './transport-probe.js';

const RATE = Math.min(Number(process.argv[2] ?? 2000), 5000);
const SECONDS = Math.min(Number(process.argv[3] ?? 3), 10);
const SUBSCRIBERS = Math.min(Number(process.argv[4] ?? 1000), 5000);
const SIZE = 1024;
const MODE = process.argv[5] === 'batch' ? 'batch' : 'framed';

async function main(): Promise<void> {
  const pinned = pinSelf(1);
  console.log(`generator ceiling (${MODE === 'batch' ? 'batch frames' : 'one message per frame'}): 1 publisher → ${SUBSCRIBERS} subscribers × ${SIZE} B at ${RATE} msg/s (${((RATE * SUBSCRIBERS) / 1e6).toFixed(2)}M deliveries/s offered), ${SECONDS} s; ${machine()}${pinned ? '; sender on CPU 0, generator on CPU 1' : ''}`);
  console.log('| worker threads | delivered/s | % of offered | events per frame | generator CPU s | deliveries per generator-CPU-s | sender CPU s | p99 ms | load average |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const workers of [1, 2]) {
    const server = await spawnServer({ script: 'loadtest/bench/servers/raw-ws.ts', args: [MODE], portFlag: false, cpu: 0 }, 20_000);
    try {
      const plan = SCENARIOS.fanout!.build({ ...BASE_KNOBS, subscribers: SUBSCRIBERS, size: SIZE, rate: RATE, sampleEvery: Math.max(1, Math.ceil(RATE / 100)) }, 0);
      const load = loadavg()[0]!.toFixed(2);
      const r = await runLoad({ url: server.url, dialect: 'raw', batch: MODE === 'batch', plan, durationMs: SECONDS * 1000, workers, serverPid: server.pid, drainMs: 2000, connectPhaseMs: 60_000 });
      const offered = RATE * SUBSCRIBERS;
      const perCpu = r.generator.cpuSeconds > 0 ? r.counters.deliveries / r.generator.cpuSeconds : 0;
      const perFrame = r.counters.frames > 0 ? (r.counters.deliveries / r.counters.frames).toFixed(1) : '–';
      console.log(`| ${workers} | ${(r.deliveriesPerSec / 1e6).toFixed(2)}M | ${((100 * r.deliveriesPerSec) / offered).toFixed(0)}% | ${perFrame} | ${r.generator.cpuSeconds} | ${(perCpu / 1e6).toFixed(2)}M | ${r.server?.cpuSeconds ?? '–'} | ${r.latency.p99} | ${load} |`);
    } finally {
      await server.stop();
    }
  }
}

await main();
process.exit(0);
