/**
 * CPU nanoseconds per shed message against CPU nanoseconds per delivery, in one connection's outbound
 * path (OutboundWriter + OutboundQueue + the subscription's gap account), no sockets: the socket is a
 * stand-in that takes every frame, or none. The clock is injected, so expiry is exact.
 *
 *   npx tsx loadtest/experiments/shed-cost.ts [messages=200000] [rounds=5]
 *
 * Workloads, 1 KiB messages, default outbound limits (1 MiB, 4,096 messages):
 *   deliver      the socket keeps up: every message is written straight through (the fast path);
 *   drop-oldest  the socket is stopped and the queue full: every message queued sheds the oldest;
 *   drop-newest  the same: every message is shed on arrival;
 *   conflate     the socket is stopped, 100 keys: every message replaces the queued one of its key;
 *   expired      a full queue of messages past maxAgeMs drained at once: each is shed as expired.
 * Each figure is the best of the rounds (the least disturbed by other processes). Bounded by its arguments.
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
import { machine } from './transport-probe.js';

const MESSAGES = Math.min(Number(process.argv[2] ?? 200_000), 2_000_000);
const ROUNDS = Math.min(Number(process.argv[3] ?? 5), 20);
const PAYLOAD = Buffer.alloc(1024, 0x61);
const KEYS = 100;

class StandInSocket implements TransportSocket {
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
  ping(): void {}
  close(): void {}
  abandon(): void {}
  terminate(): void {}
}

/** The publications of each run, made once per channel settings (a round's own garbage is not what is measured). */
function publications(channel: Channel, keys: number): Publication[] {
  return Array.from({ length: MESSAGES }, (_, i) => {
    const key = keys > 0 ? `k${i % keys}` : undefined;
    const pub = new Publication('ch', channel.queuePolicy, 'e', i + 1, key, key === undefined ? undefined : `ch\0${key}`, PAYLOAD, 0);
    pub.prepared = PAYLOAD;
    return pub;
  });
}
const plain = new WeakMap<Channel, Publication[]>();
const keyed = new WeakMap<Channel, Publication[]>();

type Workload = 'deliver' | 'drop-oldest' | 'drop-newest' | 'conflate' | 'expired';

const channels = new Map<string, { config: ReturnType<typeof loadConfig>; channel: Channel }>();
function channelFor(policy: SlowConsumerPolicy, maxAgeMs: number): { config: ReturnType<typeof loadConfig>; channel: Channel } {
  const id = `${policy}/${maxAgeMs}`;
  let found = channels.get(id);
  if (found === undefined) {
    const config = loadConfig({ overrides: { channels: [{ pattern: '*', policy, historySize: 16, ...(maxAgeMs > 0 ? { maxAgeMs } : {}) }] } });
    const channel = new Channel('ch', new ChannelRules(config).settingsFor('ch'));
    plain.set(channel, publications(channel, 0));
    keyed.set(channel, publications(channel, KEYS));
    found = { config, channel };
    channels.set(id, found);
  }
  return found;
}

function setup(policy: SlowConsumerPolicy, maxAgeMs: number) {
  const { config, channel } = channelFor(policy, maxAgeMs);
  const socket = new StandInSocket();
  let now = 0;
  let sub: Subscription | undefined;
  const budget = new MemoryBudget(0, { now: () => 0, later: () => {} });
  const writer = new OutboundWriter({
    socket,
    settings: { ...config.outbound, softQueueBytes: 0 },
    stats: new Stats(),
    clock: () => now,
    batcher: new WriteBatcher(),
    pacer: new TurnAllowance(0),
    owner: { subscriptionOf: () => sub, subscriptions: () => (sub ? [sub] : []), slowConsumer: () => {}, drained: () => {}, repliesBackedUp: () => true, repliesDrained: () => {} },
    pools: budget.pools,
  });
  sub = new Subscription(channel, writer);
  const pubs = (policy === 'conflate' ? keyed : plain).get(channel)!;
  return { socket, writer, sub, pubs, setNow: (t: number) => (now = t) };
}

/** CPU ns per operation of one round. */
function round(workload: Workload): number {
  const policy: SlowConsumerPolicy = workload === 'deliver' || workload === 'expired' ? 'drop-oldest' : workload;
  const { socket, writer, sub, pubs, setNow } = setup(policy, workload === 'expired' ? 1 : 0);
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

const workloads: Workload[] = ['deliver', 'drop-oldest', 'drop-newest', 'conflate', 'expired'];
console.log(`shed cost: ${MESSAGES} messages of 1 KiB per round, ${ROUNDS} rounds, best round; ${machine()}`);
const best: Record<string, number> = {};
for (let r = 0; r < ROUNDS; r++) for (const w of workloads) best[w] = Math.min(best[w] ?? Infinity, round(w));
console.log('| workload | CPU ns per message | × deliver |');
console.log('|---|---|---|');
for (const w of workloads) console.log(`| ${w} | ${best[w]!.toFixed(0)} | ${(best[w]! / best.deliver!).toFixed(2)} |`);
process.exit(0);
