import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChannelRules } from '../../src/config/channel-rules.js';
import { loadConfig } from '../../src/config/load.js';
import { Channel } from '../../src/hub/channel.js';
import { Stats } from '../../src/observability/stats.js';
import type { SlowConsumerPolicy } from '../../src/protocol/policy.js';
import { encodeMessage, encodeUnavailableGap } from '../../src/protocol/frames.js';
import { OutboundWriter, type WriterOwner } from '../../src/session/outbound-writer.js';
import { Subscription } from '../../src/session/subscription.js';
import { TurnAllowance } from '../../src/session/turn-allowance.js';
import { WriteBatcher, type Corked } from '../../src/session/write-batcher.js';
import { Publication } from '../../src/stream/publication.js';
import { MemoryBudget } from '../../src/util/memory-budget.js';
import { ChannelLedger, emptyCounts, type LedgerCounts } from '../model/ledger.js';
import { FakeSocket } from '../helpers/fake-socket.js';

/**
 * A model of one client of one channel through the outbound writer and its replay lane: publish
 * while replaying, the socket blocking and draining (also in the middle of a write), loop turns,
 * unsubscribe, resubscribe or reconnect with `since`, close, on each policy with a small history,
 * queue, high-water mark and process allowance; beside it the connection's other channel, of its
 * own policy, whose messages share the queue and do not wait for the replay; and publications the
 * node loses, which the subscription is told of by a broker notice (`unavailable`), also while it
 * waits behind a replay. Every frame the socket took is read by the delivery guarantee's ledger
 * (test/model/ledger.ts): seqs in order, no duplicates, every missing seq inside an announced gap or
 * the unrecovered range of a resume after a documented close. Beside it: the lane holds at most one
 * history (and the notices behind it); a replay whose socket takes everything never
 * falls further behind when a live message joins it; the lane's credit never exceeds the live bytes
 * waiting in it (a live message shed or dropped behind a replay takes its credit back); and a loop
 * turn writes of the replay no more than its share plus those live bytes; on a `conflate` channel the
 * lane holds at most one live message per key (a newer one replaces it, `conflated`, as in the queue),
 * and its index by key points at exactly those.
 */

const CH = 'ch';
/** The connection's other channel (a policy of its own, no history): subscribed on every connection, never replaying. */
const OTHER = 'ot';
/** A bounded run in `npm test`; a long one with REPLAY_MODEL_RUNS=N REPLAY_MODEL_SEED=S npx vitest run <this file>. */
const RUNS = Number(process.env.REPLAY_MODEL_RUNS ?? 400);
const SEED = Number(process.env.REPLAY_MODEL_SEED ?? 20261130);
/** The loop's end-of-turn uncork is a command of the model. */
class TurnBatcher extends WriteBatcher {
  override add(_item: Corked): void {}
}

interface Conn {
  readonly socket: FakeSocket;
  readonly writer: OutboundWriter;
  sub: Subscription | undefined;
  readonly other: Subscription;
  /** The writer asked for a 4100 (the connection closes once the command is done). */
  cut: boolean;
}

class Sim {
  readonly channel: Channel;
  readonly otherChannel: Channel;
  readonly counts: LedgerCounts = emptyCounts();
  readonly ledger: ChannelLedger;
  readonly otherLedger: ChannelLedger;
  otherSeq = 0;
  readonly history: Publication[] = [];
  readonly scheduled: Array<() => void> = [];
  readonly pacer: TurnAllowance;
  readonly budget = new MemoryBudget(0, { now: () => 0, later: () => {} });
  seq = 0;
  conn: Conn | undefined;
  largest = 0;
  closes = 0;
  /** Live messages a replaying subscription's policy shed (a whole history behind). */
  laneSheds = 0;
  /** Keyed live messages a newer one of their key replaced behind a replay (conflate). */
  laneConflated = 0;
  /** Messages of the other channel read while part of the replay was still to come. */
  otherDuringReplay = 0;
  /** Broker notices handed to the subscription (each may sit in the lane beyond its history's count). */
  notices = 0;
  /** Broker notices handed to it while it was replaying. */
  noticesBehindReplay = 0;
  /** The current replay's messages not read yet, by seq: their bytes. */
  readonly replaying = new Map<number, number>();
  /**
   * This loop turn's account of the lane's bound: replay bytes read; what the turn may write beyond
   * its share (live bytes waiting in the lane when it began, and those handed to it since); and how
   * many live messages were handed to it (each may let one whole message out for fewer bytes).
   */
  readonly span = { replayed: 0, allowance: 0, joins: 0 };

  constructor(
    readonly policy: SlowConsumerPolicy,
    readonly historySize: number,
    readonly highWaterMarkBytes: number,
    pacerBytes: number,
    otherPolicy: SlowConsumerPolicy,
  ) {
    const channels = [
      { pattern: CH, policy, historySize, historyMaxBytes: 0 },
      { pattern: OTHER, policy: otherPolicy, historySize: 0 },
    ];
    const rules = new ChannelRules(loadConfig({ overrides: { channels } }));
    this.channel = new Channel(CH, rules.settingsFor(CH));
    this.otherChannel = new Channel(OTHER, rules.settingsFor(OTHER));
    this.ledger = new ChannelLedger(CH, `${policy}/h${historySize}`, this.counts);
    this.otherLedger = new ChannelLedger(OTHER, otherPolicy, this.counts);
    this.pacer = new TurnAllowance(pacerBytes, (fn) => void this.scheduled.push(fn));
  }

  /** The lane's bytes: what the writer holds beyond its queue. */
  laneBytes(): number {
    return this.conn === undefined ? 0 : this.conn.writer.heldBytes - this.conn.writer.queuedBytes;
  }

  connect(): void {
    const socket = new FakeSocket();
    let conn: Conn;
    const owner: WriterOwner = {
      subscriptionOf: (c) => (c === CH ? conn.sub : c === OTHER ? conn.other : undefined),
      subscriptions: () => (conn.sub === undefined ? [conn.other] : [conn.sub, conn.other]),
      slowConsumer: () => {
        conn.cut = true;
        conn.writer.stop();
      },
      drained: () => {},
      repliesBackedUp: () => false,
      repliesDrained: () => {},
    };
    const settings = { maxQueueBytes: 600, maxQueueMessages: 4, softQueueBytes: 0, softLimitMs: 0, controlQueueMessages: 16, highWaterMarkBytes: this.highWaterMarkBytes, minReceiveWindowBytes: 1024, maxReceiveWindowBytes: 1e9 };
    const writer = new OutboundWriter({ socket, settings, stats: new Stats(), clock: () => 0, batcher: new TurnBatcher(), pacer: this.pacer, owner, pools: this.budget.pools });
    conn = { socket, writer, sub: undefined, other: new Subscription(this.otherChannel, writer), cut: false };
    this.conn = conn;
    this.otherLedger.acknowledged({ ev: 'ack', epoch: '', seq: this.otherSeq }, undefined);
    this.newSpan();
  }

  /** Subscribes, resuming from where the last subscription stood when there was one. */
  subscribe(): void {
    const conn = this.conn!;
    const since = this.ledger.lastPosition;
    const recovered = since !== undefined && since.seq >= this.seq - this.history.length;
    this.ledger.acknowledged({ ev: 'ack', epoch: '', seq: this.seq, ...(since === undefined ? {} : { recovered }) }, since);
    conn.sub = new Subscription(this.channel, conn.writer);
    this.replaying.clear();
    if (!recovered) return;
    const pubs = this.history.filter((p) => p.seq > since.seq);
    for (const pub of pubs) this.replaying.set(pub.seq, pub.bytes);
    conn.sub.replay(pubs);
  }

  unsubscribe(): void {
    const conn = this.conn!;
    conn.writer.forget(conn.sub!);
    conn.sub = undefined;
    this.read();
    this.replaying.clear();
    this.ledger.unsubscribed();
  }

  /** Bytes of live messages waiting in the lane (behind the replay): all it holds but the replay's unread messages. */
  liveWaiting(): number {
    let unreplayed = 0;
    for (const bytes of this.replaying.values()) unreplayed += bytes;
    return this.laneBytes() - unreplayed;
  }

  /** A loop turn begins: the lane's share is renewed, and its credit is at most the live bytes waiting in it. */
  newSpan(): void {
    this.span.replayed = 0;
    this.span.joins = 0;
    this.span.allowance = this.liveWaiting();
  }

  /** A publication of `channel` at `seq`, its payload of `size` bytes. */
  private pub(channel: Channel, seq: number, size: number, key: string | undefined): Publication {
    const payload = encodeMessage(channel.name, seq, key, JSON.stringify('x'.repeat(size)));
    const conflationKey = channel.queuePolicy.policy === 'conflate' && key !== undefined ? `${channel.name}\0${key}` : undefined;
    const pub = new Publication(channel.name, channel.queuePolicy, '', seq, key, conflationKey, payload, 0);
    pub.prepared = payload;
    return pub;
  }

  /** A publication of the other channel: its policy may shed messages queued beside the replay, or cut the connection off. */
  publishOther(size: number, key: string | undefined): void {
    const pub = this.pub(this.otherChannel, ++this.otherSeq, size, key);
    const conn = this.conn;
    if (conn !== undefined && !conn.cut) conn.other.deliver(pub);
  }

  /**
   * The node misses `n` publications, which history no longer holds either (stream-repair): the
   * subscription is handed the `unavailable` notice in their place.
   */
  lose(n: number): void {
    const from = this.seq + 1;
    this.seq += n;
    this.history.length = 0;
    const conn = this.conn;
    if (conn?.sub === undefined || conn.cut) return;
    const notice = new Publication('', { policy: 'disconnect', maxAgeMs: 0 }, '', this.seq, undefined, undefined, Buffer.from(encodeUnavailableGap(CH, from, this.seq, '')), 0);
    notice.prepared = notice.encoded;
    this.largest = Math.max(this.largest, notice.bytes);
    this.notices++;
    if (this.laneBytes() > 0) this.noticesBehindReplay++;
    this.span.allowance += notice.bytes;
    this.span.joins++;
    conn.sub.deliver(notice);
  }

  publish(size: number, key: string | undefined): void {
    const seq = ++this.seq;
    const pub = this.pub(this.channel, seq, size, key);
    this.largest = Math.max(this.largest, pub.bytes);
    this.history.push(pub);
    if (this.history.length > this.historySize) this.history.shift();
    const conn = this.conn;
    if (conn?.sub === undefined || conn.cut) return;
    const before = this.laneBytes();
    this.span.allowance += pub.bytes;
    this.span.joins++;
    const writable = !conn.socket.full;
    const shed = conn.writer.shed.dropped;
    const conflated = conn.writer.shed.conflated;
    conn.sub.deliver(pub);
    if (before > 0 && conn.writer.shed.dropped > shed) this.laneSheds++;
    if (before > 0 && conn.writer.shed.conflated > conflated) this.laneConflated++;
    // While the socket takes everything, a live message joining a replay is matched by bytes the replay writes.
    if (writable && !conn.socket.full && !conn.cut) expect(this.laneBytes(), `lane grew by seq ${seq} on a socket that took everything`).toBeLessThanOrEqual(before);
  }

  turn(): void {
    this.conn?.writer.uncork();
    // What the last turn wrote counts for it.
    this.read();
    this.newSpan();
    for (const fn of this.scheduled.splice(0)) fn();
  }

  close(): void {
    this.conn!.writer.discard();
    this.read();
    this.ledger.end();
    this.otherLedger.end();
    this.conn = undefined;
    this.replaying.clear();
  }

  /** The client reads every frame the socket took, in order; a connection cut off is then closed (4100). */
  read(): void {
    const conn = this.conn;
    if (conn === undefined) return;
    for (const text of conn.socket.written.splice(0)) {
      const frame = JSON.parse(text) as Record<string, unknown>;
      if (frame.ch === OTHER) {
        this.otherLedger.frame(frame);
        if (frame.ev === 'msg' && this.replaying.size > 0) this.otherDuringReplay++;
      }
      if (frame.ch !== CH) continue;
      this.ledger.frame(frame);
      const replayed = frame.ev === 'msg' ? this.replaying.get(Number(frame.seq)) : undefined;
      if (replayed !== undefined) {
        this.replaying.delete(Number(frame.seq));
        this.span.replayed += replayed;
      }
    }
    if (conn.cut) {
      this.closes++;
      conn.writer.discard();
      this.ledger.end();
      this.otherLedger.end();
      this.conn = undefined;
      this.replaying.clear();
    }
  }

  /**
   * After each command: the guarantee holds so far; the lane holds at most one history (its own
   * count bound); its credit (ReplayLane's private `followed`) is at most the live bytes waiting in
   * it; and this turn wrote of the replay at most its share, plus as many bytes as live messages
   * waited in the lane or joined it, give or take a message per join and one for the share.
   */
  check(): void {
    this.read();
    expect(this.ledger.violations).toEqual([]);
    expect(this.otherLedger.violations).toEqual([]);
    expect(this.laneBytes()).toBeLessThanOrEqual((Math.max(1, this.historySize) + 1 + this.notices) * this.largest);
    const credit = this.conn === undefined ? 0 : (this.conn.writer as unknown as { replays: { followed: number } }).replays.followed;
    expect(credit, 'the lane\'s credit').toBeLessThanOrEqual(this.liveWaiting());
    expect(this.span.replayed, 'replay bytes written this turn').toBeLessThanOrEqual(this.highWaterMarkBytes + this.span.allowance + (this.span.joins + 2) * this.largest);
    expect(this.budget.pools.replay.bytes).toBeGreaterThanOrEqual(0);
    this.checkKeys();
  }

  /** ReplayLane's private replays, read here alone: one live message waiting per conflation key, indexed where it stands. */
  private checkKeys(): void {
    interface Replay {
      live: Array<Publication | undefined>;
      liveNext: number;
      liveWaiting: number;
      byKey: Map<string, number> | undefined;
    }
    const replays = this.conn === undefined ? [] : (this.conn.writer as unknown as { replays: { replays: Replay[] } }).replays.replays;
    for (const replay of replays) {
      const waiting = replay.live.slice(replay.liveNext).filter((p) => p !== undefined);
      const keyed = waiting.filter((p) => p.conflationKey !== undefined);
      expect(keyed.map((p) => p.seq), 'one live message per key').toHaveLength(new Set(keyed.map((p) => p.conflationKey)).size);
      expect(waiting.length, 'live messages waiting').toBe(replay.liveWaiting);
      expect(replay.live[replay.liveNext], 'the next live message').toBe(waiting[0]);
      expect(new Map([...(replay.byKey ?? [])].map(([key, i]) => [key, replay.live[i]]))).toEqual(new Map(keyed.map((p) => [p.conflationKey, p])));
    }
  }

  /** The socket drains for good: everything is written within a bounded number of turns, and every seq accounted for. */
  settle(): void {
    const conn = this.conn;
    if (conn !== undefined && !conn.cut) {
      conn.socket.full = false;
      conn.socket.room = Infinity;
      conn.writer.onDrain();
    }
    for (let i = 0; i < 10_000 && this.conn !== undefined && !this.conn.writer.idle; i++) {
      this.turn();
      this.read();
    }
    this.check();
    if (this.conn !== undefined) expect(this.conn.writer.idle).toBe(true);
    this.ledger.checkSettled({ epoch: '', seq: this.seq });
    this.otherLedger.checkSettled({ epoch: '', seq: this.otherSeq });
    expect(this.ledger.violations).toEqual([]);
    expect(this.otherLedger.violations).toEqual([]);
    if (this.conn === undefined) expect(this.budget.pools.replay.bytes).toBe(0);
  }
}

type Cmd = fc.Command<object, Sim>;
const command = (name: string, check: (sim: Sim) => boolean, run: (sim: Sim) => void): Cmd => ({
  check: () => true,
  run: (_m, sim) => {
    if (!check(sim)) return;
    run(sim);
    sim.check();
  },
  toString: () => name,
});

const publish = fc.tuple(fc.integer({ min: 1, max: 25 }), fc.integer({ min: 0, max: 120 }), fc.option(fc.constantFrom('a', 'b'), { nil: undefined })).map(([n, size, key]) =>
  command(`publish(${n}x${size}${key ?? ''})`, () => true, (sim) => {
    for (let i = 0; i < n; i++) sim.publish(size, key);
  }),
);
const publishOther = fc.tuple(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 60 }), fc.option(fc.constantFrom('a', 'b'), { nil: undefined })).map(([n, size, key]) =>
  command(`publishOther(${n}x${size}${key ?? ''})`, () => true, (sim) => {
    for (let i = 0; i < n; i++) sim.publishOther(size, key);
  }),
);
const turn = fc.constant(command('turn', () => true, (sim) => sim.turn()));
const lose = fc.integer({ min: 1, max: 6 }).map((n) => command(`lose(${n})`, () => true, (sim) => sim.lose(n)));

const commands = [
  publish,
  publish,
  publish,
  publishOther,
  lose,
  lose,
  turn,
  turn,
  fc.constant(command('block', (sim) => sim.conn !== undefined, (sim) => void (sim.conn!.socket.full = true))),
  fc.integer({ min: 1, max: 12 }).map((room) =>
    command(`unblock(${room})`, (sim) => sim.conn !== undefined && !sim.conn.cut, (sim) => {
      const conn = sim.conn!;
      conn.socket.full = false;
      conn.socket.room = room;
      conn.writer.onDrain();
    }),
  ),
  fc.constant(command('unsubscribe', (sim) => sim.conn?.sub !== undefined, (sim) => sim.unsubscribe())),
  fc.constant(command('subscribe', (sim) => sim.conn !== undefined && sim.conn.sub === undefined, (sim) => sim.subscribe())),
  // Unsubscribe and resume at once (a client that resubscribes with `since`), also in the middle of a replay.
  fc.constant(command('resubscribe', (sim) => sim.conn?.sub !== undefined, (sim) => {
    sim.unsubscribe();
    sim.subscribe();
  })),
  fc.constant(command('close', (sim) => sim.conn !== undefined, (sim) => sim.close())),
  fc.constant(command('reconnect', (sim) => sim.conn === undefined, (sim) => {
    sim.connect();
    sim.subscribe();
  })),
];

describe('replay lane (model)', () => {
  it('per subscriber: seqs in order, no duplicate, every missing seq announced; the lane holds at most a history and keeps pace with live messages while its socket takes them', () => {
    const coverage = { runs: 0, gaps: {} as Record<string, number>, resumes: { recovered: 0, partial: 0, unrecoverable: 0 }, closes4100: 0, laneSheds: 0, laneConflated: 0, messages: 0, otherDuringReplay: 0, noticesBehindReplay: 0 };
    const setup = fc.record({
      policy: fc.constantFrom<SlowConsumerPolicy>('drop-oldest', 'drop-newest', 'conflate', 'disconnect'),
      historySize: fc.integer({ min: 3, max: 20 }),
      highWaterMarkBytes: fc.integer({ min: 50, max: 400 }),
      pacerBytes: fc.constantFrom(0, 100, 300),
      otherPolicy: fc.constantFrom<SlowConsumerPolicy>('drop-oldest', 'drop-newest', 'conflate', 'disconnect'),
    });
    fc.assert(
      fc.property(setup, fc.commands(commands, { maxCommands: 150, size: 'max' }), (s, cmds) => {
        const sim = new Sim(s.policy, s.historySize, s.highWaterMarkBytes, s.pacerBytes, s.otherPolicy);
        sim.connect();
        sim.subscribe();
        fc.modelRun(() => ({ model: {}, real: sim }), cmds);
        sim.settle();
        coverage.runs++;
        coverage.closes4100 += sim.closes;
        coverage.laneSheds += sim.laneSheds;
        coverage.laneConflated += sim.laneConflated;
        coverage.otherDuringReplay += sim.otherDuringReplay;
        coverage.noticesBehindReplay += sim.noticesBehindReplay;
        coverage.messages += sim.counts.messages;
        for (const [reason, n] of Object.entries(sim.counts.gaps)) coverage.gaps[reason] = (coverage.gaps[reason] ?? 0) + n;
        for (const k of ['recovered', 'partial', 'unrecoverable'] as const) coverage.resumes[k] += sim.counts.resumes[k];
      }),
      { numRuns: RUNS, seed: SEED },
    );
    console.log(`replay lane model: ${JSON.stringify(coverage)}`);
    // Every path the model is for was walked: shed gaps (also by a replaying subscription's policy), resumes of each outcome, 4100 closes.
    expect(coverage.gaps.dropped).toBeGreaterThan(0);
    expect(coverage.laneSheds).toBeGreaterThan(0);
    expect(coverage.laneConflated).toBeGreaterThan(0);
    expect(coverage.resumes.recovered).toBeGreaterThan(0);
    expect(coverage.resumes.partial).toBeGreaterThan(0);
    expect(coverage.closes4100).toBeGreaterThan(0);
    // The other channel's messages were written while the replay was still under way (not held until its end).
    expect(coverage.otherDuringReplay).toBeGreaterThan(0);
    expect(coverage.noticesBehindReplay).toBeGreaterThan(0);
    expect(coverage.gaps.unavailable).toBeGreaterThan(0);
  }, RUNS * 50);
});
