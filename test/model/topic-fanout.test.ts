import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/client.js';
import { fillSocket } from '../helpers/fill.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { emptyCounts, type Position } from './ledger.js';
import { RawSubscriber } from './raw-subscriber.js';

/**
 * uWS's own fan-out for caught-up subscribers (outbound.uwsTopicFanout), model-checked with
 * fast-check's `commands` on real uws sockets: publications one per turn (the topic path) and in
 * bursts (the turn's share of a topic taken, then per subscriber), sub, unsub, a join with resume,
 * a subscriber's own frames (pong, the ack of its own publication, another channel's messages),
 * a stopped reader pushed over its high-water mark, its drain, and a dropped connection, in any
 * order. Every subscriber's stream is checked frame by frame by the model's ledger (seqs in order,
 * every missing seq announced where its hole is, nothing twice, acks in their place); the run must
 * also have taken both paths, and switched between them.
 */

const CHANNELS = [
  { suffix: 'oldest', policy: 'drop-oldest', historySize: 30 },
  { suffix: 'newest', policy: 'drop-newest', historySize: 0 },
  { suffix: 'lossless', policy: 'disconnect', historySize: 60 },
] as const;
const SUBSCRIBERS = 3;
const CONFIG = {
  inbound: { messagesPerSecond: 0, bytesPerSecond: 0 },
  outbound: { maxQueueBytes: 8192, maxQueueMessages: 16, softQueueBytes: 0, highWaterMarkBytes: 16 * 1024, uwsTopicFanout: true },
  heartbeat: { intervalMs: 1000, idleTimeoutMs: 120_000 },
  limits: { maxPendingPublishes: 1024 },
  channels: [
    ...CHANNELS.map((c) => ({ pattern: `*.${c.suffix}`, policy: c.policy, historySize: c.historySize, historyTtlMs: 10_000 })),
    { pattern: '*.ballast', policy: 'drop-oldest', historySize: 0 },
  ],
};
const SMALL = 'x'.repeat(200);
const BIG = 'y'.repeat(60_000);

interface Model {
  readonly subscribed: boolean[][];
  readonly paused: boolean[];
}

interface Real {
  readonly gw: TestGateway;
  readonly prefix: string;
  readonly raws: RawSubscriber[];
  readonly publisher: TestClient;
  /** Replies to bursts not awaited (a command that follows may land in the same turn). */
  readonly replies: Array<Promise<{ ev: string }>>;
}

const channel = (r: Real, ch: number) => `${r.prefix}.${CHANNELS[ch]!.suffix}`;

/** Publishes `n` messages: one per turn (each after the previous ack), or all at once without waiting for the acks. */
class Publish implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly ch: number,
    readonly n: number,
    readonly spread: boolean,
  ) {}
  check = () => true;
  async run(_m: Model, r: Real): Promise<void> {
    const frame = (i: number) => ({ op: 'pub', ch: channel(r, this.ch), data: { i, pad: SMALL } });
    if (this.spread) for (let i = 0; i < this.n; i++) expect((await r.publisher.request(frame(i))).ev).toBe('ack');
    else for (let i = 0; i < this.n; i++) r.replies.push(r.publisher.request(frame(i)));
  }
  toString = () => `pub(${this.ch}, ${this.n}, ${this.spread ? 'spread' : 'burst'})`;
}

/** sub, unsub or a join with resume; `during`: right after a burst of that many to the channel (the same turn, mostly). */
class Membership implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly op: 'sub' | 'unsub' | 'resub',
    readonly s: number,
    readonly ch: number,
    readonly during: number,
  ) {}
  check = (m: Readonly<Model>) => m.subscribed[this.s]![this.ch] === (this.op !== 'sub');
  async run(m: Model, r: Real): Promise<void> {
    m.subscribed[this.s]![this.ch] = this.op !== 'unsub';
    const raw = r.raws[this.s]!;
    const name = channel(r, this.ch);
    if (this.during > 0) await new Publish(this.ch, this.during, false).run(m, r);
    // Not awaited: the reply may sit behind a stopped reader's backlog.
    if (this.op === 'sub') void raw.sub(name);
    else if (this.op === 'unsub') void raw.unsub(name);
    else void raw.resub(name);
  }
  toString = () => `${this.op}(${this.s}, ${this.ch}${this.during > 0 ? `, during ${this.during}` : ''})`;
}

/** A frame of the subscriber's own: a pong, or the ack of its own publication (a message to the channel's subscribers, itself too). */
class OwnFrame implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly s: number,
    readonly ch: number | undefined,
  ) {}
  check = () => true;
  async run(_m: Model, r: Real): Promise<void> {
    const client = r.raws[this.s]!.client;
    if (client.closeCode !== undefined) return;
    if (this.ch === undefined) client.send({ op: 'ping' });
    else client.send({ op: 'pub', ch: channel(r, this.ch), data: { own: this.s } });
  }
  toString = () => (this.ch === undefined ? `ping(${this.s})` : `ownPub(${this.s}, ${this.ch})`);
}

/** The reader stops reading; with `fill`, ballast of its own is published until the node sheds for it: it is over its mark. */
class Pause implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly s: number,
    readonly fill: boolean,
  ) {}
  check = (m: Readonly<Model>) => !m.paused[this.s];
  async run(m: Model, r: Real): Promise<void> {
    m.paused[this.s] = true;
    const raw = r.raws[this.s]!;
    raw.pause();
    if (this.fill) await fillSocket(r.gw, raw.conn, () => Promise.all(Array.from({ length: 4 }, () => r.publisher.request({ op: 'pub', ch: `${r.prefix}.b${this.s}.ballast`, data: BIG }))), 120, 4);
  }
  toString = () => `pause(${this.s}${this.fill ? ', fill' : ''})`;
}

class Resume implements fc.AsyncCommand<Model, Real> {
  constructor(readonly s: number) {}
  check = (m: Readonly<Model>) => m.paused[this.s]!;
  async run(m: Model, r: Real): Promise<void> {
    m.paused[this.s] = false;
    r.raws[this.s]!.resume();
  }
  toString = () => `resume(${this.s})`;
}

/** The connection drops; the subscriber connects again and resumes every channel it wants. */
class Reconnect implements fc.AsyncCommand<Model, Real> {
  constructor(readonly s: number) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    m.paused[this.s] = false;
    await r.raws[this.s]!.reconnect(r.gw.url);
  }
  toString = () => `reconnect(${this.s})`;
}

const s = fc.integer({ min: 0, max: SUBSCRIBERS - 1 });
const ch = fc.integer({ min: 0, max: CHANNELS.length - 1 });
const membership = (op: Membership['op']) => fc.tuple(s, ch, fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40 }))).map(([a, c, n]) => new Membership(op, a, c, n));
/** fc.commands picks each entry alike: a repeated entry weighs more. */
const COMMANDS = [
  fc.tuple(ch, fc.integer({ min: 1, max: 12 })).map(([c, n]) => new Publish(c, n, true)),
  fc.tuple(ch, fc.integer({ min: 1, max: 80 })).map(([c, n]) => new Publish(c, n, false)),
  membership('sub'),
  membership('sub'),
  membership('sub'),
  membership('unsub'),
  membership('resub'),
  membership('resub'),
  fc.tuple(s, fc.option(ch, { nil: undefined })).map(([a, c]) => new OwnFrame(a, c)),
  fc.tuple(s, fc.boolean()).map(([a, fill]) => new Pause(a, fill)),
  s.map((a) => new Resume(a)),
  s.map((a) => new Reconnect(a)),
];

let run = 0;

describe('uWS topic fan-out, model-checked (fast-check commands, real uws sockets)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(CONFIG, 'uws');
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('every subscriber gets every seq once, in order, or a gap where it is missing, on either path and across every switch', async () => {
    const hub = gw.gateway.hub;
    const before = { publications: hub.publications, topic: hub.topicPublications };
    const counts = emptyCounts();
    await fc.assert(
      fc.asyncProperty(fc.commands(COMMANDS, { maxCommands: 40, size: 'medium' }), async (cmds) => {
        const prefix = `t${++run}`;
        const raws = await Promise.all(Array.from({ length: SUBSCRIBERS }, (_, i) => RawSubscriber.connect(gw.url, `raw${i}`, counts)));
        const publisher = await TestClient.connect(gw.url);
        const real: Real = { gw, prefix, raws, publisher, replies: [] };
        try {
          await Promise.all(raws.map((raw, i) => raw.sub(`${prefix}.b${i}.ballast`)));
          const model: Model = { subscribed: raws.map(() => CHANNELS.map(() => false)), paused: raws.map(() => false) };
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          for (const reply of await Promise.all(real.replies)) expect(reply.ev).toBe('ack');
          // At rest: everyone reads again and is connected; each stands at its channels' positions.
          for (const raw of raws) await raw.restore(gw.url);
          const probe = await TestClient.connect(gw.url);
          const positions = new Map<string, Position>();
          for (let c = 0; c < CHANNELS.length; c++) {
            const ack = await probe.subscribe(channel(real, c));
            positions.set(channel(real, c), { epoch: ack.epoch as string, seq: ack.seq as number });
          }
          probe.terminate();
          const violations: string[] = [];
          for (const raw of raws) {
            for (const name of raw.wanted) if (!name.endsWith('.ballast')) await raw.settle(name, positions.get(name)!, 10_000).catch((err: Error) => violations.push(err.message));
            violations.push(...raw.violations);
          }
          expect(violations).toEqual([]);
        } finally {
          for (const raw of raws) raw.terminate();
          publisher.terminate();
        }
      }),
      { numRuns: 60, seed: 18, endOnFailure: true },
    );
    const publications = hub.publications - before.publications;
    const topic = hub.topicPublications - before.topic;
    // Both paths were taken: publications through topics, and per subscriber (a burst past the turn's share, a lagging subscriber).
    console.log(`topic ${topic} of ${publications} publications; ${counts.messages} messages checked; gaps ${JSON.stringify(counts.gaps)}; resumes ${JSON.stringify(counts.resumes)}`);
    expect(topic).toBeGreaterThan(0);
    expect(publications - topic).toBeGreaterThan(0);
    expect(counts.messages).toBeGreaterThan(0);
  }, 180_000);
});
