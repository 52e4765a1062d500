/**
 * CPU nanoseconds per shed message against CPU nanoseconds per delivery, in one connection's outbound
 * path (OutboundWriter + OutboundQueue + the subscription's gap account), no sockets: the socket is a
 * stand-in that takes every frame, or none. Clocks as in the gateway (the system clock; the queue's
 * read once per stretch of work), except for expiry, whose clock is injected so that it is exact. Used by the
 * bench's high-rate part and by `loadtest/experiments/shed-cost.ts`.
 *
 * ShedWorkloads, 1 KiB messages, default outbound limits (1 MiB, 4,096 messages):
 *   deliver      the socket keeps up: every message is written straight through (the fast path);
 *   drop-oldest  the socket is stopped and the queue full: every message queued sheds one of the oldest
 *                (in runs of a sixteenth of the queue);
 *   drop-newest  the same: every message is shed on arrival;
 *   conflate     the socket is stopped, 100 keys: every message replaces the queued one of its key;
 *   expired      a full queue of messages past maxAgeMs drained at once: each is shed as expired;
 *   queued       (experiment only, not in the bench's list) the socket is stopped and the queue has
 *                room: every message is queued, as in the second after a subscriber's kernel buffers
 *                filled and before its first shed (the queue filled anew for each thousand messages).
 * Each figure is the best of the rounds (the least disturbed by other processes). A tight loop keeps
 * everything in the cache, where the gateway's sheds miss it (docs/benchmarks.md, "Tenth pass"):
 * measureShedFanout measures the same sheds among 1,000 subscriptions, as the hub hands them a publication.
 */
import { ChannelRules } from '../../src/config/channel-rules.js';
import { loadConfig } from '../../src/config/load.js';
import { Channel } from '../../src/hub/channel.js';
import type { TransportSocket } from '../../src/net/socket.js';
import { Stats } from '../../src/observability/stats.js';
import type { SlowConsumerPolicy } from '../../src/protocol/policy.js';
import { OutboundWriter } from '../../src/session/outbound-writer.js';
import { Subscription } from '../../src/session/subscription.js';
import { TurnAllowance } from '../../src/session/turn-allowance.js';
import { WriteBatcher } from '../../src/session/write-batcher.js';
import { Publication } from '../../src/stream/publication.js';
import { MemoryBudget } from '../../src/util/memory-budget.js';
import { md } from './table.js';
import { systemClock } from '../../src/util/clock.js';
import { TurnClock } from '../../src/util/turn-clock.js';

export const SHED_WORKLOADS = ['deliver', 'drop-oldest', 'drop-newest', 'conflate', 'expired'] as const;
/** Workloads `loadtest/experiments/shed-cost.ts` may name besides the bench's. */
export const EXTRA_SHED_WORKLOADS = ['queued'] as const;
export type ShedWorkload = (typeof SHED_WORKLOADS)[number] | (typeof EXTRA_SHED_WORKLOADS)[number];
/** CPU ns per message, best round, by workload. */
export type ShedCost = Record<ShedWorkload, number>;

const PAYLOAD = Buffer.alloc(1024, 0x61);
const KEYS = 100;

/** A socket that takes every frame while `open`, and none after. */
export class StandInSocket implements TransportSocket {
  readonly remoteAddress = '127.0.0.1';
  open = true;
  bufferedAmount = (): number => 0;
  sendPrepared(): boolean {
    return this.open;
  }
  sendText(): boolean {
    return this.open;
  }
  sendPong(): boolean {
    return this.open;
  }
  cork(): void {}
  uncork(): void {}
  pause(): void {}
  resume(): void {}
  deferParsing(): void {}
  ping(): void {}
  close(): void {}
  abandon(): void {}
  terminate(): void {}
}

/** The publications a workload delivers, in order. */
function publications(channel: Channel, keys: number, messages: number): Publication[] {
  return Array.from({ length: messages }, (_, i) => {
    const key = keys > 0 ? `k${i % keys}` : undefined;
    const pub = new Publication('ch', channel.queuePolicy, 'e', i + 1, key, key === undefined ? undefined : `ch\0${key}`, PAYLOAD, 0);
    pub.prepared = PAYLOAD;
    return pub;
  });
}

interface Fixture {
  readonly config: ReturnType<typeof loadConfig>;
  readonly channel: Channel;
  readonly pubs: Publication[];
}

/** Each workload's channel and publications, made once for every round (a round's own garbage is not what is measured). */
function fixture(workload: ShedWorkload, messages: number): Fixture {
  const policy: SlowConsumerPolicy = workload === 'deliver' || workload === 'expired' || workload === 'queued' ? 'drop-oldest' : workload;
  const maxAgeMs = workload === 'expired' ? 1 : 0;
  const config = loadConfig({ overrides: { channels: [{ pattern: '*', policy, historySize: 16, ...(maxAgeMs > 0 ? { maxAgeMs } : {}) }] } });
  const channel = new Channel('ch', new ChannelRules(config).settingsFor('ch'));
  return { config, channel, pubs: publications(channel, policy === 'conflate' ? KEYS : 0, messages) };
}

/**
 * The writer as a gateway makes it: default outbound settings, the system clock, and the queue's
 * clock read once per stretch of synchronous work; `injected` puts both on a clock the caller sets
 * (expiry must see time pass).
 */
function setup({ config, channel, pubs }: Fixture, injected: boolean) {
  const socket = new StandInSocket();
  let now = 0;
  const clock = injected ? () => now : systemClock;
  let sub: Subscription | undefined;
  const budget = new MemoryBudget(0, { now: () => 0, later: () => {} });
  const writer = new OutboundWriter({
    socket,
    settings: config.outbound,
    stats: new Stats(),
    clock,
    queueClock: injected ? clock : new TurnClock(clock).now,
    batcher: new WriteBatcher(),
    pacer: new TurnAllowance(0),
    owner: { subscriptionOf: () => sub, subscriptions: () => (sub ? [sub] : []), slowConsumer: () => {}, drained: () => {}, repliesBackedUp: () => true, repliesDrained: () => {} },
    pools: budget.pools,
  });
  sub = new Subscription(channel, writer);
  return { socket, writer, sub, pubs, setNow: (t: number) => (now = t) };
}

/** Messages queued per fill in the `queued` workload: 1 KiB each, well inside the default limits (1 MiB, 4,096 messages). */
const QUEUED_PER_FILL = 900;

/** CPU ns per message queued into room (the `queued` workload): fills of QUEUED_PER_FILL after the blocking first write, a fresh writer each. */
function queuedRound(f: Fixture): number {
  let used = 0;
  let ops = 0;
  for (let from = 0; from + QUEUED_PER_FILL + 1 <= f.pubs.length; from += QUEUED_PER_FILL + 1) {
    const { socket, writer, sub, pubs } = setup(f, false);
    socket.open = false;
    sub.deliver(pubs[from]!);
    const start = process.cpuUsage();
    for (let i = from + 1; i <= from + QUEUED_PER_FILL; i++) sub.deliver(pubs[i]!);
    const u = process.cpuUsage(start);
    used += u.user + u.system;
    ops += QUEUED_PER_FILL;
    writer.discard();
  }
  return (used * 1000) / Math.max(1, ops);
}

/** CPU ns per operation of one round. */
function round(workload: ShedWorkload, f: Fixture): number {
  if (workload === 'queued') return queuedRound(f);
  const { socket, writer, sub, pubs, setNow } = setup(f, workload === 'expired');
  let i = 0;
  let ops = 0;
  if (workload !== 'deliver') {
    // The first write blocks the socket; the rest queue (filling the queue is not measured).
    socket.open = false;
    const fill = workload === 'expired' ? 0 : workload === 'conflate' ? KEYS : 2000;
    for (; i < fill + 1; i++) sub.deliver(pubs[i]!);
  }
  const start = process.cpuUsage();
  if (workload === 'expired') {
    // Cycles of: a full queue at t, drained at t + 2 (all past maxAgeMs 1).
    let t = 0;
    while (i < pubs.length) {
      socket.open = false;
      setNow(t);
      const from = i;
      for (; i < pubs.length && i - from < 1000; i++) sub.deliver(pubs[i]!);
      setNow(t + 2);
      socket.open = true;
      writer.onDrain();
      ops += i - from;
      t += 4;
    }
  } else {
    for (; i < pubs.length; i++) {
      sub.deliver(pubs[i]!);
      if ((i & 63) === 0) writer.uncork();
    }
    ops = pubs.length - (workload === 'deliver' ? 0 : workload === 'conflate' ? KEYS + 1 : 2001);
  }
  const used = process.cpuUsage(start);
  writer.discard();
  return ((used.user + used.system) * 1000) / ops;
}

/** Runs `rounds` rounds of each workload (in turn, so that a disturbance hits them alike) over `messages` messages each. */
export function measureShedCost(messages: number, rounds: number, workloads: readonly ShedWorkload[] = SHED_WORKLOADS): Partial<ShedCost> {
  const fixtures = new Map(workloads.map((w) => [w, fixture(w, messages)]));
  const best: Partial<ShedCost> = {};
  for (let r = 0; r < rounds; r++) for (const w of workloads) best[w] = Math.min(best[w] ?? Infinity, round(w, fixtures.get(w)!));
  return best;
}

/** The policies a stopped subscriber sheds by, one message per publication. */
export const FANOUT_POLICIES = ['drop-oldest', 'drop-newest', 'conflate'] as const;
export type FanoutPolicy = (typeof FANOUT_POLICIES)[number];
const FANOUT = { subscribers: 1000, stoppedEvery: 10, fill: 1500, turn: 50 };

/**
 * CPU ns per publication handed to 1,000 subscriptions in turn, as the hub fans out: to the 900
 * reading ones alone (a stand-in socket that takes every frame), or to all with the 100 stopped
 * (their socket takes nothing, their queue is full). `thrash` bytes are copied between publications,
 * as the kernel's copies of the writes are, so that each connection's state has left the cache by
 * the time the next publication reaches it (not counted).
 */
function fanOutRound(policy: FanoutPolicy, withStopped: boolean, count: number, thrash: number): number {
  const config = loadConfig({ overrides: { channels: [{ pattern: '*', policy, historySize: 16 }] } });
  const channel = new Channel('ch', new ChannelRules(config).settingsFor('ch'));
  const budget = new MemoryBudget(0, { now: () => 0, later: () => {} });
  const deps = { settings: config.outbound, stats: new Stats(), clock: systemClock, queueClock: new TurnClock(systemClock).now, batcher: new WriteBatcher(), pacer: new TurnAllowance(0), pools: budget.pools };
  const subs: Subscription[] = [];
  const writers: OutboundWriter[] = [];
  for (let i = 0; i < FANOUT.subscribers; i++) {
    const socket = new StandInSocket();
    socket.open = i % FANOUT.stoppedEvery !== 0;
    let sub: Subscription | undefined;
    const owner = { subscriptionOf: () => sub, subscriptions: () => (sub ? [sub] : []), slowConsumer: () => {}, drained: () => {}, repliesBackedUp: () => true, repliesDrained: () => {} };
    const writer = new OutboundWriter({ ...deps, socket, owner });
    sub = new Subscription(channel, writer);
    subs.push(sub);
    writers.push(writer);
  }
  const pubs = publications(channel, policy === 'conflate' ? KEYS : 0, FANOUT.fill + count);
  const uncork = (): void => {
    for (const w of writers) if (w.writable) w.uncork();
  };
  for (let i = 0; i < FANOUT.fill; i++) for (const s of subs) s.deliver(pubs[i]!);
  uncork();
  const target = withStopped ? subs : subs.filter((_, i) => i % FANOUT.stoppedEvery !== 0);
  const from = Buffer.alloc(thrash, 1);
  const to = Buffer.alloc(thrash);
  let thrashed = 0;
  const start = process.cpuUsage();
  for (let i = FANOUT.fill; i < pubs.length; i++) {
    const t = process.cpuUsage();
    from.copy(to);
    const u = process.cpuUsage(t);
    thrashed += u.user + u.system;
    for (const s of target) s.deliver(pubs[i]!);
    if (i % FANOUT.turn === 0) uncork();
  }
  const used = process.cpuUsage(start);
  for (const w of writers) w.discard();
  return ((used.user + used.system - thrashed) * 1000) / count;
}

export interface FanoutCost {
  /** CPU ns per publication to the reading subscriptions alone, and to all with the stopped ones (medians). */
  readonly reading: number;
  readonly all: number;
  /** CPU ns per shed: the difference over the stopped subscriptions, median of the rounds. */
  readonly shed: number;
  readonly rounds: number[];
}

/** A shed's cost in the gateway's conditions: `rounds` rounds of each policy, reading alone and all alternated. */
export function measureShedFanout(publications: number, rounds: number, policies: readonly FanoutPolicy[] = FANOUT_POLICIES, thrash = 1_000_000): Partial<Record<FanoutPolicy, FanoutCost>> {
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const stopped = FANOUT.subscribers / FANOUT.stoppedEvery;
  const out: Partial<Record<FanoutPolicy, FanoutCost>> = {};
  for (const policy of policies) {
    const reading: number[] = [];
    const all: number[] = [];
    for (let r = 0; r < rounds; r++) {
      reading.push(fanOutRound(policy, false, publications, thrash));
      all.push(fanOutRound(policy, true, publications, thrash));
    }
    const sheds = all.map((a, i) => (a - reading[i]!) / stopped);
    out[policy] = { reading: median(reading), all: median(all), shed: median(sheds), rounds: sheds };
  }
  return out;
}

export interface ShedCostFigures {
  readonly messages: number;
  readonly rounds: number;
  readonly ns: Partial<ShedCost>;
  /** CPU ns per shed in the gateway's conditions (measureShedFanout), by policy. */
  readonly fanOut?: Partial<Record<FanoutPolicy, number>>;
  /** The machine's 1-minute load average before and after. */
  readonly loadAverage: { readonly start: number; readonly end: number };
}

const SHED_ROWS: ReadonlyArray<{ workload: Exclude<ShedWorkload, 'deliver' | 'queued'>; label: string }> = [
  { workload: 'drop-oldest', label: 'drop-oldest (queue full: each message sheds one of the oldest, in runs)' },
  { workload: 'drop-newest', label: 'drop-newest (each message shed on arrival)' },
  { workload: 'conflate', label: 'conflate, 100 keys (each message replaces its key\'s)' },
  { workload: 'expired', label: 'expired (a full queue past maxAgeMs, drained)' },
];

/**
 * The bench's table of shedding costs and its verdict: each shed, in CPU ns, against a delivery —
 * the writer's own part of one (a stand-in socket) and a whole one, the server's CPU per delivery
 * of the Sluice rows at 1.8M/s in the same run (`delivery`).
 */
export function shedCostSection(c: ShedCostFigures, delivery: ReadonlyArray<{ transport: string; ns: number | undefined }>): { table: string; verdicts: string[] } {
  const f = (n: number | undefined, digits: number): string => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits));
  const writer = c.ns.deliver;
  // A shed as the gateway pays it where measured (fan-out, state out of the cache), else one connection's.
  const cost = (w: Exclude<ShedWorkload, 'deliver' | 'queued'>): number | undefined => (w === 'expired' ? undefined : c.fanOut?.[w]) ?? c.ns[w];
  const head = ['message', 'CPU ns, one connection', 'CPU ns in fan-out (1,000 subscriptions, 100 stopped)', '× the writer\'s part of a delivery', ...delivery.map((d) => `× a whole delivery, Sluice ${d.transport} at 1.8M/s (${f(d.ns, 0)} ns)`)];
  const body = [
    ['delivered (socket keeping up; the writer\'s part only)', f(writer, 0), '–', '1.00', ...delivery.map((d) => f(writer === undefined || d.ns === undefined ? undefined : writer / d.ns, 2))],
    ...SHED_ROWS.map(({ workload, label }) => {
      const hot = c.ns[workload];
      const ns = cost(workload);
      return [label, f(hot, 0), f(workload === 'expired' ? undefined : c.fanOut?.[workload], 0), f(hot === undefined || writer === undefined ? undefined : hot / writer, 2), ...delivery.map((d) => f(ns === undefined || d.ns === undefined ? undefined : ns / d.ns, 2))];
    }),
  ];
  const table = [
    `### The cost of shedding: CPU ns per shed message against a delivery (${c.messages.toLocaleString('en')} messages × ${c.rounds} rounds, best round; load ${f(c.loadAverage.start, 1)}–${f(c.loadAverage.end, 1)})`,
    '',
    'One connection\'s outbound path in this process (writer, queue, gap account; 1 KiB, default outbound limits, the gateway\'s clocks, expiry on an injected one; `loadtest/bench/shed-cost.ts`), in a tight loop with everything in the cache; and the same shed as the gateway pays it, each publication handed to 1,000 subscriptions in turn with 1 MB copied between publications (as the kernel\'s writes do), 100 of them stopped: the difference over the 900 alone, per stopped subscription, median of the rounds. A shed message costs the server this instead of a delivery; the ratios to a whole delivery use the fan-out figure where there is one (to the writer\'s part, both in the tight loop); a whole delivery is the server\'s CPU per delivery in the none-stopped Sluice rows above (socket write and kernel included).',
    '',
    md(head, body),
  ].join('\n');
  const whole = delivery.filter((d) => d.ns !== undefined);
  const cheapest = whole.length === 0 ? undefined : Math.min(...whole.map((d) => d.ns!));
  const worst = Math.max(...SHED_ROWS.map((r) => cost(r.workload) ?? Infinity));
  const verdicts = [
    `- Cost per shed message (drop-oldest, drop-newest, conflate, expiry) ≤ the cost of a delivery: ${cheapest !== undefined && worst <= cheapest ? 'met' : '**not met**'} (${SHED_ROWS.map((r) => `${r.workload} ${f(cost(r.workload), 0)} ns`).join(', ')}${c.fanOut ? ', in fan-out where measured' : ''}; a whole delivery ${whole.map((d) => `${d.transport} ${f(d.ns, 0)} ns`).join(', ') || '–'}; the writer's part of one ${f(writer, 0)} ns).`,
  ];
  return { table, verdicts };
}
