/**
 * Keyed market data, side by side in one run against one gateway process (docs/keyed.md):
 *
 * 1. Snapshot time: a keyed channel holds `snapshotKeys` order books (~1.5 KB each); a new
 *    subscriber asks `snapshot: true`: time from the `sub` to the snapshot's last chunk, and its
 *    bytes, beside the time the same kind of client takes to receive as many messages of the
 *    same size as a resume's history replay (the baseline: what the wire and the client cost
 *    anyway).
 * 2. Delivery contracts: `instruments` order books updated `rate` times a second in total, to
 *    `subscribers` subscribers, first all at full rate, then with 10% asking `maxRate: 2`: bytes on
 *    the wire per second per subscriber of each kind, and gateway CPU (user + system, /proc) per
 *    delivery with and without contracts.
 *
 *   npx tsx loadtest/experiments/keyed-market.ts [instruments=200] [rate=1000] [subscribers=50] [seconds=4] [snapshotKeys=10000]
 *
 * The defaults keep the 5 updates per instrument per second (5,000/s over 1,000).
 *
 * The full figures (1,000 subscribers, 5,000 updates/s) need a quiet machine: the defaults
 * are scaled down for a shared one. Bounded: rate ≤ 5,000/s, ≤ 10 s per phase, ≤ 1,000
 * subscribers, ≤ 20,000 snapshot keys.
 */
import { loadavg } from 'node:os';
import WebSocket from 'ws';
import { readProc } from '../../devkit/proc.js';
import { spawnServer, SLUICE_CLI } from '../../devkit/process.js';
import { machine } from './transport-probe.js';

const INSTRUMENTS = Math.min(Number(process.argv[2] ?? 200), 20_000);
const RATE = Math.min(Number(process.argv[3] ?? 1000), 5000);
const SUBSCRIBERS = Math.min(Number(process.argv[4] ?? 50), 1000);
const SECONDS = Math.min(Number(process.argv[5] ?? 4), 10);
const SNAPSHOT_KEYS = Math.min(Number(process.argv[6] ?? 10_000), 20_000);

/** An order book of 50 levels a side, about 1.5 KB of JSON; `tick` changes the sizes. */
function orderBook(instrument: number, tick: number): string {
  const level = (side: number, i: number) => [Number((100 + instrument + side * (i + 1) * 0.01).toFixed(2)), 1000 + ((tick * (i + 3)) % 997)];
  return JSON.stringify({ sym: `I${instrument}`, ts: 1_700_000_000_000 + tick, bids: Array.from({ length: 50 }, (_, i) => level(-1, i)), asks: Array.from({ length: 50 }, (_, i) => level(1, i)) });
}

interface Counted {
  ws: WebSocket;
  bytes: number;
  msgs: number;
  onFrame?: (text: string) => void;
}

async function open(url: string): Promise<Counted> {
  const ws = new WebSocket(url);
  const c: Counted = { ws, bytes: 0, msgs: 0 };
  ws.on('message', (data: Buffer) => {
    c.bytes += data.length;
    const text = data.toString();
    if (text.startsWith('{"ev":"msg"')) c.msgs++;
    c.onFrame?.(text);
  });
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  return c;
}

function request(c: Counted, frame: Record<string, unknown>, done: (text: string) => boolean): Promise<void> {
  return new Promise((resolve) => {
    c.onFrame = (text) => {
      if (done(text)) {
        c.onFrame = undefined;
        resolve();
      }
    };
    c.ws.send(JSON.stringify(frame));
  });
}

async function publishAll(pub: Counted, ch: string, count: number, perKey: (i: number) => [string, string]): Promise<void> {
  for (let i = 0; i < count; i += 500) {
    for (let j = i; j < Math.min(count, i + 500); j++) {
      const [key, data] = perKey(j);
      pub.ws.send(`{"op":"pub","ch":"${ch}","key":"${key}","data":${data}}`);
    }
    await request(pub, { op: 'ping', id: `p${i}` }, (t) => t.includes(`"p${i}"`));
  }
}

async function snapshotPhase(url: string): Promise<void> {
  const pub = await open(url);
  await publishAll(pub, 'snap.all', SNAPSHOT_KEYS, (i) => [`I${i}`, orderBook(i, i)]);
  const times: number[] = [];
  let bytes = 0;
  for (let run = 0; run < 3; run++) {
    const c = await open(url);
    const t0 = performance.now();
    await request(c, { op: 'sub', ch: 'snap.all', snapshot: true, id: 1 }, (t) => t.startsWith('{"ev":"snap"') && t.endsWith('"last":true}'));
    times.push(performance.now() - t0);
    bytes = c.bytes;
    c.ws.close();
  }
  // Baseline: as many messages of the same size, replayed from history to a resuming client.
  await publishAll(pub, 'base.all', SNAPSHOT_KEYS, (i) => [`I${i}`, orderBook(i, i)]);
  const live = await open(url);
  let epoch = '';
  await request(live, { op: 'sub', ch: 'base.all', id: 1 }, (t) => ((epoch = /"epoch":"([^"]+)"/.exec(t)?.[1] ?? ''), t.includes('"ev":"ack"')));
  await request(live, { op: 'unsub', ch: 'base.all', id: 2 }, (t) => t.includes('"id":2'));
  live.msgs = 0;
  const t0 = performance.now();
  const arrived = new Promise<void>((resolve) => (live.onFrame = () => live.msgs >= SNAPSHOT_KEYS && resolve()));
  live.ws.send(JSON.stringify({ op: 'sub', ch: 'base.all', id: 3, since: { epoch, seq: 0 } }));
  await arrived;
  const baseline = performance.now() - t0;
  times.sort((a, b) => a - b);
  console.log(`snapshot of ${SNAPSHOT_KEYS} keys (${(bytes / 2 ** 20).toFixed(1)} MiB): median ${times[1]!.toFixed(0)} ms (runs ${times.map((t) => t.toFixed(0)).join(', ')}); the same messages replayed from history: ${baseline.toFixed(0)} ms`);
  live.ws.close();
  pub.ws.close();
}

async function fanoutPhase(url: string, pid: number, pacedShare: number): Promise<void> {
  const pub = await open(url);
  const subs: Array<Counted & { paced: boolean }> = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const c = Object.assign(await open(url), { paced: i < Math.round(SUBSCRIBERS * pacedShare) });
    await request(c, { op: 'sub', ch: 'mkt.all', id: 1, ...(c.paced ? { maxRate: 2 } : {}) }, (t) => t.includes('"ev":"ack"'));
    subs.push(c);
  }
  // Prepared up front (8 versions of each book) so the generator spends its CPU sending.
  const frames = Array.from({ length: INSTRUMENTS * 8 }, (_, t) => `{"op":"pub","ch":"mkt.all","key":"I${t % INSTRUMENTS}","data":${orderBook(t % INSTRUMENTS, t)}}`);
  for (const c of subs) c.bytes = c.msgs = 0;
  const cpu0 = readProc(pid)?.cpuSeconds ?? NaN;
  const t0 = performance.now();
  const perTick = Math.max(1, Math.round(RATE / 100));
  let tick = 0;
  while (performance.now() - t0 < SECONDS * 1000) {
    for (let j = 0; j < perTick; j++, tick++) pub.ws.send(frames[tick % frames.length]!);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await request(pub, { op: 'ping', id: 'end' }, (t) => t.includes('"end"'));
  await new Promise((resolve) => setTimeout(resolve, 600)); // the paced ones' last flush
  const seconds = (performance.now() - t0) / 1000;
  const cpu = (readProc(pid)?.cpuSeconds ?? NaN) - cpu0;
  const deliveries = subs.reduce((n, c) => n + c.msgs, 0);
  const kind = (paced: boolean) => {
    const group = subs.filter((c) => c.paced === paced);
    if (group.length === 0) return 'none';
    const bytes = group.reduce((n, c) => n + c.bytes, 0) / group.length / seconds;
    const msgs = group.reduce((n, c) => n + c.msgs, 0) / group.length / seconds;
    return `${group.length} × ${(bytes / 1024).toFixed(0)} KiB/s (${msgs.toFixed(0)} msg/s)`;
  };
  console.log(
    `${(pacedShare * 100).toFixed(0)}% maxRate 2: published ${tick} in ${seconds.toFixed(1)} s; full rate ${kind(false)}; paced ${kind(true)}; gateway CPU ${cpu.toFixed(2)} s = ${((cpu * 1e6) / Math.max(1, deliveries)).toFixed(2)} µs/delivery over ${deliveries} deliveries`,
  );
  for (const c of subs) c.ws.close();
  pub.ws.close();
}

async function main(): Promise<void> {
  const channels = [
    { pattern: 'base.*', historySize: 20_000, historyMaxBytes: 0 },
    { pattern: '*', keyed: true, maxKeys: 20_000, keyedMaxBytes: 64 * 2 ** 20, historySize: 100, policy: 'conflate' },
  ];
  const server = await spawnServer({
    script: SLUICE_CLI,
    args: ['--host', '127.0.0.1', '--log.level', 'warn', '--log.healthSummaryIntervalMs', '0', '--inbound.messagesPerSecond', '0', '--inbound.bytesPerSecond', '0', '--limits.memoryBudgetBytes', '0', '--channels', JSON.stringify(channels)],
    portFlag: true,
  });
  console.log(`keyed market: ${INSTRUMENTS} instruments, ${RATE} updates/s, ${SUBSCRIBERS} subscribers, ${SECONDS} s; ${machine()}; load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  try {
    await snapshotPhase(server.url);
    await fanoutPhase(server.url, server.pid, 0);
    await fanoutPhase(server.url, server.pid, 0.1);
  } finally {
    await server.stop();
  }
}

await main();
