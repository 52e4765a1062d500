import { loadavg } from 'node:os';
import { OrderBooks } from '../../devkit/order-book.js';
import { pinSelf, spawnServer, SLUICE_CLI, type ServerProcess } from '../../devkit/process.js';
import { startRedis } from '../../devkit/redis.js';
import { machine } from './transport-probe.js';
import { open, publishAll, request } from '../tool/market/wire.js';

/**
 * A keyed channel's snapshot on the Redis broker read in chunks (`broker.redis.snapshotScanCount`
 * 1000, the default) beside one reply (0, what it was before), side by side in one run: two
 * gateways on one Redis, each with its own key prefix and the same `keys` order books (~1.5 KB).
 * Per run and setting, alternating: a new subscriber's time from `sub` to the last `snap` chunk,
 * and the longest a PING of another Redis client waited meanwhile (what every other command on
 * that Redis waits while a reply is built). Bounded: 5 runs each, every wait ≤ 120 s.
 *
 *   npx tsx loadtest/experiments/redis-snapshot-chunks.ts [keys=10000]
 */
const KEYS = Math.min(Number(process.argv[2] ?? 10_000), 20_000);
const RUNS = 5;

async function main(): Promise<void> {
  const load0 = loadavg();
  const redis = await startRedis();
  const settings = [1000, 0];
  const servers: ServerProcess[] = [];
  try {
    for (const count of settings) {
      const channels = [{ pattern: '*', keyed: true, maxKeys: 20_000, keyedMaxBytes: 64 * 2 ** 20, historySize: 100 }];
      servers.push(
        await spawnServer({
          script: SLUICE_CLI,
          args: [
            '--host', '127.0.0.1', '--log.level', 'warn', '--log.healthSummaryIntervalMs', '0', '--inbound.messagesPerSecond', '0', '--inbound.bytesPerSecond', '0',
            '--limits.memoryBudgetBytes', '0', '--broker.type', 'redis', '--broker.redis.url', redis.url, '--broker.redis.keyPrefix', `c${count}:`,
            '--broker.redis.snapshotScanCount', String(count), '--broker.redis.commandTimeoutMs', '10000', '--channels', JSON.stringify(channels),
          ],
          portFlag: true,
          cpu: 0,
        }),
      );
    }
    const pinned = pinSelf(1);
    console.log(`npx tsx loadtest/experiments/redis-snapshot-chunks.ts ${KEYS}\nmachine: ${machine()}; gateways on CPU 0, this process on CPU 1: ${pinned}; load average before: ${load0.map((l) => l.toFixed(2)).join(' ')}`);
    const books = new OrderBooks(KEYS, 5);
    for (const server of servers) {
      const pub = await open(server.url);
      await publishAll(pub, 'snap.all', KEYS, (i) => [`I${i}`, books.text(i)]);
      pub.ws.close();
    }
    const prober = redis.client();
    await prober.ping();
    const figures = settings.map(() => ({ snapshotMs: [] as number[], stallMs: [] as number[], mib: 0 }));
    for (let run = 0; run < RUNS; run++) {
      for (let s = 0; s < servers.length; s++) {
        const c = await open(servers[s]!.url);
        let probing = true;
        let stall = 0;
        const probe = (async () => {
          while (probing) {
            const t = performance.now();
            await prober.ping();
            stall = Math.max(stall, performance.now() - t);
          }
        })();
        const t0 = performance.now();
        await request(c, { op: 'sub', ch: 'snap.all', snapshot: true, id: 1 }, (text) => text.startsWith('{"ev":"snap"') && text.endsWith('"last":true}'));
        figures[s]!.snapshotMs.push(performance.now() - t0);
        probing = false;
        await probe;
        figures[s]!.stallMs.push(stall);
        figures[s]!.mib = c.bytes / 2 ** 20;
        c.ws.close();
      }
    }
    prober.disconnect();
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    const ms = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
    console.log(`snapshot of ${KEYS} keys (${figures[0]!.mib.toFixed(1)} MiB on the wire), ${RUNS} runs each, alternating`);
    console.log('| snapshotScanCount | snapshot, median (runs) | longest PING wait of another Redis client during it, median (runs) |');
    console.log('|---|---|---|');
    settings.forEach((count, s) => {
      const f = figures[s]!;
      console.log(`| ${count === 0 ? '0 (one reply)' : count} | ${median(f.snapshotMs).toFixed(0)} ms (${ms(f.snapshotMs)}) | ${median(f.stallMs).toFixed(1)} ms (${ms(f.stallMs)}) |`);
    });
    const load1 = loadavg();
    console.log(`load average before ${load0.map((l) => l.toFixed(2)).join(' ')}, after ${load1.map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    for (const server of servers) await server.stop();
    await redis.stop();
  }
}

await main();
