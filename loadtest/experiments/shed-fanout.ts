/**
 * What a shed costs in the gateway's conditions, not one connection's in a hot loop: each
 * publication goes to 1,000 subscriptions in turn (as the hub fans out), 100 of them stopped (their
 * socket takes nothing, their queue is full) and 900 reading (a stand-in socket that takes every
 * frame), with `thrash` bytes copied between publications as the kernel's copies of the writes do,
 * so that each connection's state has left the cache by the time the next publication reaches it.
 * Per round: CPU per publication to the 900 alone, then to all 1,000; a shed costs the difference
 * over 100. Medians over the rounds.
 *
 *   npx tsx loadtest/experiments/shed-fanout.ts [publications=1500] [rounds=5] [policies=drop-oldest,drop-newest,conflate] [thrash=1000000]
 */
import { ChannelRules } from '../../src/config/channel-rules.js';
import { loadConfig } from '../../src/config/load.js';
import { Channel } from '../../src/hub/channel.js';
import { Stats } from '../../src/observability/stats.js';
import type { SlowConsumerPolicy } from '../../src/protocol/policy.js';
import { OutboundWriter } from '../../src/session/outbound-writer.js';
import { Subscription } from '../../src/session/subscription.js';
import { TurnAllowance } from '../../src/session/turn-allowance.js';
import { WriteBatcher } from '../../src/session/write-batcher.js';
import { Publication } from '../../src/stream/publication.js';
import { MemoryBudget } from '../../src/util/memory-budget.js';
import { systemClock } from '../../src/util/clock.js';
import { TurnClock } from '../../src/util/turn-clock.js';
import { StandInSocket } from '../bench/shed-cost.js';
import { machine } from './transport-probe.js';

const PUBS = Math.min(Number(process.argv[2] ?? 1500), 20_000);
const ROUNDS = Math.min(Number(process.argv[3] ?? 5), 20);
const POLICIES = (process.argv[4] ?? 'drop-oldest,drop-newest,conflate').split(',') as SlowConsumerPolicy[];
const THRASH = Math.min(Number(process.argv[5] ?? 1_000_000), 64 * 1024 * 1024);
const SUBSCRIBERS = 1000;
const STOPPED_EVERY = 10;
/** Publications before the measured ones: enough to fill every stopped queue (1 MiB of 1 KiB messages). */
const FILL = 1500;
const KEYS = 100;
const PAYLOAD = Buffer.alloc(1024, 0x61);

/** CPU ns per publication handed to the reading subscriptions alone, or to all of them with the stopped ones. */
function run(policy: SlowConsumerPolicy, withStopped: boolean): number {
  const config = loadConfig({ overrides: { channels: [{ pattern: '*', policy, historySize: 16 }] } });
  const channel = new Channel('ch', new ChannelRules(config).settingsFor('ch'));
  const deps = { settings: config.outbound, stats: new Stats(), clock: systemClock, queueClock: new TurnClock(systemClock).now, batcher: new WriteBatcher(), pacer: new TurnAllowance(0), pools: new MemoryBudget(0, { now: () => 0, later: () => {} }).pools };
  const subs: Subscription[] = [];
  const writers: OutboundWriter[] = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const socket = new StandInSocket();
    socket.open = i % STOPPED_EVERY !== 0;
    let sub: Subscription | undefined;
    const owner = { subscriptionOf: () => sub, subscriptions: () => (sub ? [sub] : []), slowConsumer: () => {}, drained: () => {}, repliesBackedUp: () => true, repliesDrained: () => {} };
    const writer = new OutboundWriter({ ...deps, socket, owner });
    sub = new Subscription(channel, writer);
    subs.push(sub);
    writers.push(writer);
  }
  const pub = (i: number): Publication => {
    const key = policy === 'conflate' ? `k${i % KEYS}` : undefined;
    const p = new Publication('ch', channel.queuePolicy, 'e', i + 1, key, key === undefined ? undefined : `ch\0${key}`, PAYLOAD, 0);
    p.prepared = PAYLOAD;
    return p;
  };
  for (let i = 0; i < FILL; i++) {
    const p = pub(i);
    for (const s of subs) s.deliver(p);
  }
  const uncork = (): void => {
    for (const w of writers) if (w.writable) w.uncork();
  };
  uncork();
  const target = withStopped ? subs : subs.filter((_, i) => i % STOPPED_EVERY !== 0);
  const pubs = Array.from({ length: PUBS }, (_, i) => pub(FILL + i));
  const from = Buffer.alloc(THRASH, 1);
  const to = Buffer.alloc(THRASH);
  let thrashed = 0;
  const start = process.cpuUsage();
  for (let i = 0; i < PUBS; i++) {
    const t = process.cpuUsage();
    from.copy(to);
    const u = process.cpuUsage(t);
    thrashed += u.user + u.system;
    for (const s of target) s.deliver(pubs[i]!);
    // A turn's worth of publications, then every written socket is uncorked.
    if (i % 50 === 49) uncork();
  }
  const used = process.cpuUsage(start);
  for (const w of writers) w.discard();
  return ((used.user + used.system - thrashed) * 1000) / PUBS;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
console.log(`shed fan-out: ${PUBS} publications of 1 KiB to ${SUBSCRIBERS} subscriptions (${SUBSCRIBERS / STOPPED_EVERY} stopped), ${THRASH} B copied between publications, ${ROUNDS} rounds, medians; ${machine()}`);
for (const policy of POLICIES) {
  const reading: number[] = [];
  const all: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    reading.push(run(policy, false));
    all.push(run(policy, true));
  }
  const stopped = SUBSCRIBERS / STOPPED_EVERY;
  const sheds = all.map((a, i) => (a - reading[i]!) / stopped);
  console.log(`${policy}: to the ${SUBSCRIBERS - stopped} reading ${(median(reading) / 1000).toFixed(1)} µs per publication (${(median(reading) / (SUBSCRIBERS - stopped)).toFixed(0)} ns each), with the stopped ${(median(all) / 1000).toFixed(1)} µs: ${median(sheds).toFixed(0)} ns per shed (rounds: ${sheds.map((x) => x.toFixed(0)).join(', ')})`);
}
process.exit(0);
