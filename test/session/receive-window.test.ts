import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChannelRules } from '../../src/config/channel-rules.js';
import { loadConfig } from '../../src/config/load.js';
import { Channel } from '../../src/hub/channel.js';
import { Stats } from '../../src/observability/stats.js';
import { encodeMessage } from '../../src/protocol/frames.js';
import { OutboundWriter, type WriterOwner } from '../../src/session/outbound-writer.js';
import { Subscription } from '../../src/session/subscription.js';
import { TurnAllowance } from '../../src/session/turn-allowance.js';
import { WriteBatcher } from '../../src/session/write-batcher.js';
import { Publication } from '../../src/stream/publication.js';
import { MemoryBudget } from '../../src/util/memory-budget.js';
import { FakeSocket } from '../helpers/fake-socket.js';

/**
 * The receive window (docs/protocol.md, `window`, `recv`) at the outbound writer: the client's
 * count of what it received since the window's ack must match the server's exactly, data never
 * goes out while more than a window is unreported, control frames never wait for the window, and
 * nothing waits forever once the client reports what it read.
 */
function setup(policy: 'drop-oldest' | 'disconnect', maxQueueMessages = 4) {
  const rules = new ChannelRules(loadConfig({ overrides: { channels: [{ pattern: '*', policy, historySize: 10_000 }] } }));
  const channel = new Channel('ch', rules.settingsFor('ch'));
  const socket = new FakeSocket();
  const events = { slow: 0 };
  let sub: Subscription | undefined;
  const owner: WriterOwner = {
    subscriptionOf: (c) => (c === channel.name ? sub : undefined),
    subscriptions: () => (sub ? [sub] : []),
    slowConsumer: () => void events.slow++,
    drained: () => {},
    repliesBackedUp: () => false,
    repliesDrained: () => {},
  };
  const settings = { maxQueueBytes: 1e6, maxQueueMessages, softQueueBytes: 0, softLimitMs: 0, controlQueueMessages: 1000, highWaterMarkBytes: 1e9, minReceiveWindowBytes: 1, maxReceiveWindowBytes: 1e9 };
  const stats = new Stats();
  const budget = new MemoryBudget(0, { now: () => 0, later: () => {} });
  const writer = new OutboundWriter({ socket, settings, stats, clock: () => 0, batcher: new WriteBatcher(), pacer: new TurnAllowance(0), owner, pools: budget.pools });
  sub = new Subscription(channel, writer);
  let seq = 0;
  const publish = (data = 'x') => {
    seq++;
    const payload = encodeMessage('ch', seq, undefined, JSON.stringify(data));
    const pub = new Publication('ch', channel.queuePolicy, '', seq, undefined, undefined, payload, 0);
    pub.prepared = payload;
    sub!.deliver(pub);
    return seq;
  };
  return { socket, writer, events, stats, publish, published: () => seq };
}

/** What a client counts for one text frame: its UTF-8 payload bytes, plus one. */
const counted = (frame: string) => Buffer.byteLength(frame) + 1;
const isData = (frame: string) => frame.startsWith('{"ev":"msg"') || frame.startsWith('{"ev":"gap"');

describe('receive window at the outbound writer', () => {
  it('stops writing data once a window is unreported, queues under the policy, and goes on when the client reports', () => {
    const { socket, writer, publish, stats } = setup('drop-oldest', 100);
    const ack = '{"ev":"ack","id":"w","window":100}';
    writer.setWindow(100, ack);
    expect(socket.written).toEqual([ack]);
    for (let i = 0; i < 10; i++) publish('0123456789');
    // The ack (36 bytes counted) and the messages up to the first that takes the count past 100.
    const sent = socket.written.reduce((n, f) => n + counted(f), 0);
    expect(sent).toBeGreaterThan(100);
    expect(sent - counted(socket.written.at(-1)!)).toBeLessThanOrEqual(100);
    const writtenBefore = socket.written.length;
    expect(writtenBefore).toBeLessThan(11);
    expect(writer.queuedMessages).toBe(11 - writtenBefore);
    expect(stats.windowWaits).toBe(1);
    // Control frames and pongs do not wait for the window.
    writer.sendControl('{"ev":"pong","id":1}');
    writer.sendPong(Buffer.from('p'));
    expect(socket.written.slice(writtenBefore)).toEqual(['{"ev":"pong","id":1}', 'pong p']);
    const textSent = socket.written.filter((f) => !f.startsWith('pong ')).reduce((n, f) => n + counted(f), 0);
    // A report of everything received lets the queue go, a window at a time.
    expect(writer.received(textSent)).toBe(true);
    expect(socket.written.length).toBeGreaterThan(writtenBefore + 2);
  });

  it('writes the replies that waited for a full socket when it drains, though the window is full', () => {
    const { socket, writer, publish } = setup('drop-oldest', 100);
    writer.setWindow(60, '{"ev":"ack","id":"w","window":60}');
    publish('0123456789'); // past the window
    socket.full = true;
    writer.sendControl('{"ev":"ack","id":1}'); // written; the socket is now full
    writer.sendControl('{"ev":"ack","id":2}'); // waits for the socket
    expect(socket.written.at(-1)).toBe('{"ev":"ack","id":1}');
    socket.full = false;
    writer.onDrain();
    expect(socket.written.at(-1)).toBe('{"ev":"ack","id":2}');
  });

  it('refuses a report above what was written, below an earlier one, or without a window', () => {
    const { writer, publish } = setup('drop-oldest');
    expect(writer.received(0)).toBe(false);
    const ack = '{"ev":"ack","id":1,"window":1000}';
    writer.setWindow(1000, ack);
    publish('é');
    const sent = counted(ack) + counted(encodeMessage('ch', 1, undefined, '"é"').toString());
    expect(writer.received(sent + 1)).toBe(false);
    expect(writer.received(sent)).toBe(true);
    expect(writer.received(sent - 1)).toBe(false);
  });

  it('starts the count at the ack even when the ack waits behind a full socket', () => {
    const { socket, writer, publish } = setup('drop-oldest', 100);
    socket.full = true;
    publish(); // written; the socket is now full
    writer.sendControl('{"ev":"ack","id":1}');
    const ack = '{"ev":"ack","id":"w","window":1000}';
    writer.setWindow(1000, ack);
    publish();
    expect(socket.written.length).toBe(1);
    socket.full = false;
    writer.onDrain();
    const fromAck = socket.written.slice(socket.written.indexOf(ack));
    expect(fromAck.length).toBe(2);
    expect(writer.received(fromAck.reduce((n, f) => n + counted(f), 0))).toBe(true);
  });

  it('cuts a lossless subscriber off when its queue fills behind an unreported window', () => {
    const { writer, publish, events } = setup('disconnect', 3);
    writer.setWindow(50, '{"ev":"ack","id":"w","window":50}');
    for (let i = 0; i < 10 && events.slow === 0; i++) publish('0123456789');
    expect(events.slow).toBe(1);
  });

  it('model: the client count matches, data respects the window, every message arrives or is in a gap, nothing stalls', () => {
    type Real = ReturnType<typeof setup> & { read: number; count: number | undefined; reported: number; windows: number; pongs: number };
    type Model = Record<string, never>;
    /** Reads what the socket got since the client's last read, checking the window on each data frame. */
    const clientReads = (r: Real, limit: number) => {
      const frames = r.socket.written;
      const end = Math.min(frames.length, r.read + limit);
      for (; r.read < end; r.read++) {
        const f = frames[r.read]!;
        if (f.startsWith('pong ')) continue;
        const ack = /^\{"ev":"ack","id":"w\d+","window":(\d+)\}$/.exec(f);
        if (ack !== null && r.count === undefined) r.count = 0;
        if (r.count !== undefined) r.count += counted(f);
      }
    };
    class Publish implements fc.Command<Model, Real> {
      constructor(readonly data: string) {}
      check = () => true;
      run(_m: Model, r: Real) {
        r.publish(this.data);
      }
      toString = () => `publish(${JSON.stringify(this.data)})`;
    }
    class Read implements fc.Command<Model, Real> {
      constructor(readonly frames: number) {}
      check = () => true;
      run(_m: Model, r: Real) {
        clientReads(r, this.frames);
      }
      toString = () => `read(${this.frames})`;
    }
    class Report implements fc.Command<Model, Real> {
      check = () => true;
      run(_m: Model, r: Real) {
        // Before the client saw a window's ack it has nothing to report; the server refuses a report with no window.
        if (r.count === undefined) {
          if (r.windows === 0) expect(r.writer.received(0)).toBe(false);
          return;
        }
        expect(r.writer.received(r.count), 'the server accepts the exact count').toBe(true);
        r.reported = r.count;
      }
      toString = () => 'report';
    }
    class SocketFull implements fc.Command<Model, Real> {
      check = () => true;
      run(_m: Model, r: Real) {
        r.socket.full = true;
      }
      toString = () => 'socketFull';
    }
    class Drain implements fc.Command<Model, Real> {
      check = () => true;
      run(_m: Model, r: Real) {
        r.socket.full = false;
        r.writer.onDrain();
        // Replies and pongs wait for the socket only: once it drained, none waits for the window.
        expect(r.socket.written.filter((f) => /^\{"ev":"ack","id":\d+\}$/.test(f)).length, 'replies written once the socket drained').toBe(r.pongs);
        expect(r.socket.written.filter((f) => f.startsWith('pong ')).length, 'pongs written once the socket drained').toBeGreaterThanOrEqual(r.pongs === 0 ? 0 : 1);
      }
      toString = () => 'drain';
    }
    class Control implements fc.Command<Model, Real> {
      check = () => true;
      run(_m: Model, r: Real) {
        r.writer.sendControl(`{"ev":"ack","id":${r.pongs}}`);
        r.writer.sendPong(Buffer.from(String(r.pongs++)));
      }
      toString = () => 'control';
    }
    class SetWindow implements fc.Command<Model, Real> {
      constructor(readonly bytes: number) {}
      check = () => true;
      run(_m: Model, r: Real) {
        r.writer.setWindow(this.bytes, `{"ev":"ack","id":"w${r.windows++}","window":${this.bytes}}`);
      }
      toString = () => `window(${this.bytes})`;
    }
    const commands = [
      fc.stringMatching(/^[a-zé€]{0,60}$/).map((d) => new Publish(d)),
      fc.stringMatching(/^[a-zé€]{0,60}$/).map((d) => new Publish(d)),
      fc.integer({ min: 1, max: 8 }).map((n) => new Read(n)),
      fc.constant(new Report()),
      fc.constant(new SocketFull()),
      fc.constant(new Drain()),
      fc.constant(new Control()),
      fc.integer({ min: 40, max: 400 }).map((b) => new SetWindow(b)),
    ];
    /** Every data frame written after the window's ack went out with at most a window unreported before it. */
    const checkWindow = (r: Real, reports: { at: number; total: number }[]) => {
      let count: number | undefined;
      let window = Infinity;
      let ri = 0;
      let reported = 0;
      r.socket.written.forEach((f, i) => {
        while (ri < reports.length && reports[ri]!.at <= i) reported = reports[ri++]!.total;
        if (f.startsWith('pong ')) return;
        const ack = /^\{"ev":"ack","id":"w\d+","window":(\d+)\}$/.exec(f);
        if (ack !== null) {
          if (count === undefined) count = 0;
          window = Number(ack[1]);
        }
        if (count !== undefined && isData(f)) expect(count - reported, `data frame ${i} went out with more than a window unreported`).toBeLessThanOrEqual(window);
        if (count !== undefined) count += counted(f);
      });
    };
    fc.assert(
      fc.property(fc.constantFrom<'drop-oldest' | 'disconnect'>('drop-oldest', 'disconnect'), fc.commands(commands, { maxCommands: 120 }), (policy, cmds) => {
        const r: Real = { ...setup(policy, 4), read: 0, count: undefined, reported: 0, windows: 0, pongs: 0 };
        const reports: { at: number; total: number }[] = [];
        const model: Model = {};
        for (const cmd of cmds) {
          if (r.events.slow > 0) break; // cut off as a slow consumer: the client resumes elsewhere
          const before = r.reported;
          const at = r.socket.written.length;
          cmd.run(model, r);
          // A report applies to the frames written from its arrival on (the writer may write some at once).
          if (r.reported !== before) reports.push({ at, total: r.reported });
        }
        if (r.events.slow > 0) return;
        // The client reads everything and reports until nothing more comes: nothing may stay queued.
        r.socket.full = false;
        r.writer.onDrain();
        for (let i = 0; i < 10_000; i++) {
          const n = r.socket.written.length;
          clientReads(r, Infinity);
          if (r.count !== undefined) {
            const at = r.socket.written.length;
            expect(r.writer.received(r.count)).toBe(true);
            if (r.count !== r.reported) reports.push({ at, total: r.count });
            r.reported = r.count;
          }
          if (r.socket.written.length === n) break;
        }
        expect(r.writer.queuedMessages, 'nothing stays queued once the client reports what it read').toBe(0);
        checkWindow(r, reports);
        // Every published seq arrived, or a gap announced it (in order: seqs only rise).
        const seen = new Set<number>();
        let last = 0;
        for (const f of r.socket.written) {
          if (!isData(f)) continue;
          const frame = JSON.parse(f) as { ev: string; seq?: number; from?: number; to?: number };
          if (frame.ev === 'msg') {
            expect(frame.seq!).toBeGreaterThan(last);
            last = frame.seq!;
            seen.add(frame.seq!);
          } else {
            expect(frame.from!).toBeGreaterThan(last);
            for (let s = frame.from!; s <= frame.to!; s++) seen.add(s);
            last = frame.to!;
          }
        }
        for (let s = 1; s <= r.published(); s++) expect(seen.has(s), `seq ${s} neither delivered nor announced`).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
