import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { OrderBooks } from '../../../devkit/order-book.js';
import { mustReadProc } from '../../../devkit/proc.js';
import { ONE_ADDRESS, pinSelf, spawnServer, SLUICE_CLI } from '../../../devkit/process.js';
import { machine } from '../../experiments/transport-probe.js';
import { open, publishAll, request, sleep, type Counted } from './wire.js';

/**
 * `npm run loadtest -- market`: keyed market data at the size, side by side in one run
 * against one gateway (docs/keyed.md, docs/benchmarks.md "Keyed market data"):
 *
 * 1. Fan-out: `instruments` order books (~1.5 KB of JSON; each update moves 1–4 of the top 10
 *    levels) updated `rate` times a second in total, to `subscribers` connections, in three phases
 *    on the same connections: (A) every subscriber at full rate, whole values; (B) the same with
 *    `paced` of them asking `maxRate: 2`; (C) as B, every subscriber asking `delta: true` on a delta
 *    channel. Per kind of subscriber: bytes and messages received per second and bytes per
 *    message; the gateway's CPU (user + system, /proc) per delivery. A vs B is the cost of
 *    contracts, B vs C the bytes deltas save (the target: ≥ 4× fewer for full-rate ones).
 * 2. Snapshot: a keyed channel holding `snapshot-keys` books; a new subscriber's time from `sub`
 *    to the last `snap` chunk (median of 3), beside the same number of messages replayed from
 *    history to a resuming subscriber (what the wire and the client cost anyway).
 *
 * The gateway is pinned to CPU 0 and this process (publisher and subscribers) to CPU 1 when
 * taskset exists. A 2-core machine cannot carry 1,000 subscribers × 5,000 updates/s of 1.5 KB
 * (7.5 MB/s each): the `conflate` policy then sheds for the subscribers that fall behind, so the
 * figures also say what got through (received per subscriber vs offered). Bounded: each phase
 * `seconds` (≤ 30), every wait ≤ 120 s, ≤ 2,000 subscribers, ≤ 10,000 updates/s, ≤ 20,000 keys.
 */
const { values: opts } = parseArgs({
  args: process.argv.slice(3),
  options: {
    instruments: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '5000' },
    subscribers: { type: 'string', default: '1000' },
    paced: { type: 'string', default: '0.1' },
    seconds: { type: 'string', default: '5' },
    'snapshot-keys': { type: 'string', default: '10000' },
    transport: { type: 'string', default: 'ws' },
    out: { type: 'string' },
  },
});
const INSTRUMENTS = Math.min(Number(opts.instruments), 20_000);
const RATE = Math.min(Number(opts.rate), 10_000);
const SUBSCRIBERS = Math.min(Number(opts.subscribers), 2000);
const PACED = Math.min(Math.max(Number(opts.paced), 0), 1);
const SECONDS = Math.min(Number(opts.seconds), 30);
const SNAPSHOT_KEYS = Math.min(Number(opts['snapshot-keys']), 20_000);

interface PhaseResult {
  readonly phase: string;
  readonly offeredPerS: number;
  readonly full: KindFigures | undefined;
  readonly paced: KindFigures | undefined;
  readonly cpuUsPerDelivery: number;
  readonly deliveries: number;
}

interface KindFigures {
  readonly subscribers: number;
  readonly bytesPerS: number;
  readonly msgsPerS: number;
  readonly bytesPerMsg: number;
}

type Sub = Counted & { paced: boolean };

async function fanout(phase: string, url: string, pid: number, subs: Sub[], ch: string, ask: (s: Sub) => Record<string, unknown>): Promise<PhaseResult> {
  const pub = await open(url);
  // Each subscriber joins the phase's channel, then everyone is counted from the same moment.
  await Promise.all(subs.map((s, i) => request(s, { op: 'sub', ch, id: `s${i}`, ...ask(s) }, (t) => t.includes(`"id":"s${i}"`))));
  // Prepared up front (8 successive updates of each book) so the publisher spends its CPU sending.
  const books = new OrderBooks(INSTRUMENTS, 3);
  const frames = Array.from({ length: INSTRUMENTS * 8 }, (_, t) => `{"op":"pub","ch":"${ch}","key":"I${t % INSTRUMENTS}","data":${books.update(t % INSTRUMENTS)}}`);
  let tick = 0;
  /** Sends at RATE for `ms`: at each wake-up, every update due by then (a late timer does not lower the rate). */
  const send = async (ms: number) => {
    const t0 = performance.now();
    const first = tick;
    for (let now = t0; now - t0 < ms; now = performance.now()) {
      const due = first + Math.floor(((now - t0) * RATE) / 1000);
      for (; tick < due; tick++) pub.ws.send(frames[tick % frames.length]!);
      await sleep(10);
    }
  };
  await send(1000); // every book published once at least, deltas under way: not counted
  for (const s of subs) s.bytes = s.msgs = 0;
  const cpu0 = mustReadProc(pid).cpuSeconds;
  const t0 = performance.now();
  const sent0 = tick;
  await send(SECONDS * 1000);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = mustReadProc(pid).cpuSeconds - cpu0;
  const offered = (tick - sent0) / seconds;
  const deliveries = subs.reduce((n, s) => n + s.msgs, 0);
  await Promise.all(subs.map((s, i) => request(s, { op: 'unsub', ch, id: `u${i}` }, (t) => t.includes(`"id":"u${i}"`))));
  pub.ws.close();
  const kind = (paced: boolean): KindFigures | undefined => {
    const group = subs.filter((s) => s.paced === paced);
    if (group.length === 0) return undefined;
    const bytes = group.reduce((n, s) => n + s.bytes, 0);
    const msgs = group.reduce((n, s) => n + s.msgs, 0);
    return { subscribers: group.length, bytesPerS: bytes / group.length / seconds, msgsPerS: msgs / group.length / seconds, bytesPerMsg: bytes / Math.max(1, msgs) };
  };
  return { phase, offeredPerS: offered, full: kind(false), paced: kind(true), cpuUsPerDelivery: (cpu * 1e6) / Math.max(1, deliveries), deliveries };
}

async function snapshot(url: string): Promise<{ medianMs: number; runsMs: number[]; mib: number; replayMs: number }> {
  const pub = await open(url);
  const books = new OrderBooks(SNAPSHOT_KEYS, 5);
  await publishAll(pub, 'snap.all', SNAPSHOT_KEYS, (i) => [`I${i}`, books.text(i)]);
  const runsMs: number[] = [];
  let bytes = 0;
  for (let run = 0; run < 3; run++) {
    const c = await open(url);
    const t0 = performance.now();
    await request(c, { op: 'sub', ch: 'snap.all', snapshot: true, id: 1 }, (t) => t.startsWith('{"ev":"snap"') && t.endsWith('"last":true}'));
    runsMs.push(performance.now() - t0);
    bytes = c.bytes;
    c.ws.close();
  }
  // Baseline: as many messages of the same books, replayed from history to a resuming client.
  await publishAll(pub, 'base.all', SNAPSHOT_KEYS, (i) => [`I${i}`, books.text(i)]);
  const c = await open(url);
  let epoch = '';
  await request(c, { op: 'sub', ch: 'base.all', id: 1 }, (t) => ((epoch = /"epoch":"([^"]+)"/.exec(t)?.[1] ?? epoch), t.includes('"ev":"ack"')));
  await request(c, { op: 'unsub', ch: 'base.all', id: 2 }, (t) => t.includes('"id":2'));
  c.msgs = 0;
  const t0 = performance.now();
  await request(c, { op: 'sub', ch: 'base.all', id: 3, since: { epoch, seq: 0 } }, () => c.msgs >= SNAPSHOT_KEYS);
  const replayMs = performance.now() - t0;
  c.ws.close();
  pub.ws.close();
  const sorted = [...runsMs].sort((a, b) => a - b);
  return { medianMs: sorted[1]!, runsMs, mib: bytes / 2 ** 20, replayMs };
}

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const row = (r: PhaseResult, k: KindFigures | undefined, label: string) =>
  k === undefined ? '' : `| ${r.phase} | ${label} × ${k.subscribers} | ${kib(k.bytesPerS)}/s | ${k.msgsPerS.toFixed(1)} | ${k.bytesPerMsg.toFixed(0)} B |`;

async function main(): Promise<void> {
  const load0 = loadavg();
  const channels = [
    { pattern: 'base.*', historySize: SNAPSHOT_KEYS, historyMaxBytes: 0 },
    { pattern: 'delta.*', keyed: true, delta: true, maxKeys: 20_000, keyedMaxBytes: 64 * 2 ** 20, historySize: 100, policy: 'conflate' },
    { pattern: '*', keyed: true, maxKeys: 20_000, keyedMaxBytes: 64 * 2 ** 20, historySize: 100, policy: 'conflate' },
  ];
  const server = await spawnServer({
    script: SLUICE_CLI,
    args: [
      '--host', '127.0.0.1', '--transport', opts.transport, '--log.level', 'warn', '--log.healthSummaryIntervalMs', '0',
      '--inbound.messagesPerSecond', '0', '--inbound.bytesPerSecond', '0', '--limits.memoryBudgetBytes', '0', '--limits.maxConnections', String(SUBSCRIBERS + 100), ...ONE_ADDRESS,
      '--channels', JSON.stringify(channels),
    ],
    portFlag: true,
    cpu: 0,
  });
  const pinned = pinSelf(1);
  const command = `npm run loadtest -- ${process.argv.slice(2).join(' ')}`;
  console.log(`${command}\nkeyed market: ${INSTRUMENTS} instruments, ${RATE} updates/s offered, ${SUBSCRIBERS} subscribers (${Math.round(SUBSCRIBERS * PACED)} with maxRate 2), ${SECONDS} s a phase, transport ${opts.transport}`);
  console.log(`machine: ${machine()}; gateway on CPU 0, load generator on CPU 1: ${pinned}; load average before: ${load0.map((l) => l.toFixed(2)).join(' ')}`);
  try {
    const subs: Sub[] = [];
    for (let i = 0; i < SUBSCRIBERS; i++) subs.push(Object.assign(await open(server.url), { paced: false }));
    /** Spreads `share` of the subscribers evenly: they ask `maxRate: 2`. */
    const pace = (share: number) => subs.forEach((s, i) => (s.paced = Math.floor((i + 1) * share) > Math.floor(i * share)));
    const contract = (s: Sub) => (s.paced ? { maxRate: 2 } : {});
    const phases: PhaseResult[] = [];
    pace(0);
    // Not reported: the first phase of a run warms the gateway and this process up (JIT, buffers).
    await fanout('warm-up', server.url, server.pid, subs, 'plain.w', contract);
    phases.push(await fanout('A: whole values, no contracts', server.url, server.pid, subs, 'plain.a', contract));
    pace(PACED);
    phases.push(await fanout('B: whole values, 10% maxRate 2', server.url, server.pid, subs, 'plain.b', contract));
    phases.push(await fanout('C: deltas, 10% maxRate 2', server.url, server.pid, subs, 'delta.c', (s) => ({ ...contract(s), delta: true })));
    for (const s of subs) s.ws.close();
    const snap = await snapshot(server.url);
    const load1 = loadavg();

    const [a, b, c] = phases as [PhaseResult, PhaseResult, PhaseResult];
    const lines = [
      '| phase | subscribers | received per subscriber | msg/s per subscriber | bytes per msg |',
      '|---|---|---|---|---|',
      ...phases.flatMap((r) => [row(r, r.full, 'full rate'), row(r, r.paced, 'maxRate 2')]).filter((l) => l !== ''),
      '',
      '| phase | offered updates/s | share a full-rate subscriber got | deliveries | gateway CPU per delivery |',
      '|---|---|---|---|---|',
      ...phases.map((r) => `| ${r.phase} | ${r.offeredPerS.toFixed(0)} | ${((100 * (r.full?.msgsPerS ?? 0)) / Math.max(1, r.offeredPerS)).toFixed(0)}% | ${r.deliveries} | ${r.cpuUsPerDelivery.toFixed(2)} µs |`),
      '',
      'A full-rate subscriber that gets less than all of the offered updates is behind: its queue conflates, and a change whose previous value was conflated away comes whole, not as a delta.',
      '',
      `deltas vs whole values, full-rate subscribers (C vs B): ${(b.full!.bytesPerMsg / c.full!.bytesPerMsg).toFixed(1)}× fewer bytes per message, ${(b.full!.bytesPerS / c.full!.bytesPerS).toFixed(1)}× fewer bytes per second (target ≥ 4×; bytes per second also move with what got through: msg/s ${b.full!.msgsPerS.toFixed(0)} vs ${c.full!.msgsPerS.toFixed(0)})`,
      `contracts (B vs A): gateway CPU per delivery ${a.cpuUsPerDelivery.toFixed(2)} → ${b.cpuUsPerDelivery.toFixed(2)} µs; paced subscribers got ${((b.paced?.msgsPerS ?? 0) / INSTRUMENTS).toFixed(2)} updates per instrument per second (≤ 2)`,
      `snapshot of ${SNAPSHOT_KEYS} keys (${snap.mib.toFixed(1)} MiB) for a new subscriber: median ${snap.medianMs.toFixed(0)} ms (runs ${snap.runsMs.map((t) => t.toFixed(0)).join(', ')}); the same number of messages replayed from history: ${snap.replayMs.toFixed(0)} ms`,
      `load average before ${load0.map((l) => l.toFixed(2)).join(' ')}, after ${load1.map((l) => l.toFixed(2)).join(' ')} (the machine may be shared: compare phases of one run, not runs)`,
    ];
    console.log(lines.join('\n'));
    if (opts.out !== undefined) {
      mkdirSync(opts.out, { recursive: true });
      const file = join(opts.out, `market-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
      writeFileSync(file, JSON.stringify({ command, machine: machine(), load: { before: load0, after: load1 }, phases, snapshot: snap }, null, 2));
      console.log(`figures: ${file}`);
    }
  } finally {
    await server.stop();
  }
}

await main();
