import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TransportSocket } from '../../src/net/socket.js';
import { Stats } from '../../src/observability/stats.js';
import { RequestGate, WINDOW } from '../../src/session/request-gate.js';
import { TurnAllowance } from '../../src/session/turn-allowance.js';

/**
 * The turn's time as the test sets it: `limit` frames handled (by all gates together) per turn;
 * Infinity: no bound.
 */
class FrameMeter {
  limit = Infinity;
  used = 0;
  hasLeft(): boolean {
    return this.used < this.limit;
  }
  renew(): void {
    this.used = 0;
  }
}

/** Gates sharing one round robin whose turns run when the test says; each records what it handled. */
function setup(share: number, inboundMsPerTurn = 1, maxHeldRequestBytes = 1 << 20) {
  const turns: Array<() => void> = [];
  const meter = new FrameMeter();
  const frames = new TurnAllowance(0, (fn) => turns.push(fn), meter);
  const stats = new Stats();
  const ctx = { settings: { maxHeldRequestBytes, framesPerTurn: share, inboundMsPerTurn }, stats, frames, readingPausable: true, messagesStable: false };
  /** Everything handled, by any gate, in order: `name:payload`. */
  const log: string[] = [];
  const gate = (name: string) => {
    const socket = { paused: false, pause: () => void (socket.paused = true), resume: () => void (socket.paused = false), deferParsing: () => {} };
    const owner = {
      isClosing: false,
      errors: [] as string[],
      handle: (data: Buffer) => (meter.used++, log.push(`${name}:${data.toString()}`), true),
      answerPing: (payload: Buffer) => void log.push(`${name}:ping ${payload.toString()}`),
      sendError: (code: string) => void owner.errors.push(code),
    };
    const g = new RequestGate(socket as unknown as TransportSocket, ctx, owner);
    return { gate: g, socket, owner, send: (...texts: string[]) => texts.forEach((t) => g.take(Buffer.from(t), false)) };
  };
  /** Runs the renewal scheduled, if any (the end of a loop turn); returns what was handled in it. */
  const turn = () => {
    const from = log.length;
    turns.shift()?.();
    return log.slice(from);
  };
  return { gate, turn, log, stats, meter, scheduled: () => turns.length };
}

const frames = (name: string, n: number, from = 0) => Array.from({ length: n }, (_, i) => `${name}${from + i}`);

describe('RequestGate: a share of frames per connection per turn', () => {
  it('stops a connection at its share and serves the waiting ones one share each per turn, in turn, each in its order', () => {
    const { gate, turn, log, stats } = setup(3);
    const a = gate('a');
    const b = gate('b');
    a.send(...frames('', 7));
    b.send(...frames('', 5));
    expect(log).toEqual(['a:0', 'a:1', 'a:2', 'b:0', 'b:1', 'b:2']);
    expect(a.socket.paused && b.socket.paused).toBe(true);
    expect(turn()).toEqual(['a:3', 'a:4', 'a:5', 'b:3', 'b:4']);
    // b is done and reads again; a has one left.
    expect(b.socket.paused).toBe(false);
    expect(a.socket.paused).toBe(true);
    expect(turn()).toEqual(['a:6']);
    expect(a.socket.paused).toBe(false);
    expect(stats.readPauses.frames_per_turn).toBe(3);
  });

  it('serves a bystander at once, from its own share, while flooders wait', () => {
    const { gate, turn, log } = setup(2);
    const a = gate('a');
    const c = gate('c');
    a.send(...frames('', 10));
    c.send('hi');
    expect(log).toEqual(['a:0', 'a:1', 'c:hi']);
    expect(turn()).toEqual(['a:2', 'a:3']);
  });

  it('answers only the latest ping past the share, first in the next share, and never holds pings', () => {
    const { gate, turn, log } = setup(2);
    const a = gate('a');
    a.send('r0', 'r1', 'r2');
    for (const p of ['p0', 'p1', 'p2']) a.gate.takePing(Buffer.from(p));
    expect(log).toEqual(['a:r0', 'a:r1']);
    expect(turn()).toEqual(['a:ping p2', 'a:r2']);
    expect(a.socket.paused).toBe(false);
  });

  it('keeps frames behind another stop held after its share: they go on once both are over', () => {
    const { gate, turn, log } = setup(2);
    const a = gate('a');
    a.send('0', '1', '2', '3');
    a.gate.stop(WINDOW);
    expect(turn()).toEqual([]);
    a.gate.go(WINDOW);
    expect(log).toEqual(['a:0', 'a:1', 'a:2', 'a:3']);
  });

  it('past limits.maxHeldRequestBytes held for its share alone, the pacing gives way: the held frames and the new one are handled now, in order, nothing refused', () => {
    const { gate, turn, log } = setup(2, 1, 4);
    const a = gate('a');
    a.send('0', '1', '2', '3', '4', '5');
    // 2 in its share; '2'..'5' held (4 bytes, the bound); '6' finds the bound full.
    expect(log).toEqual(['a:0', 'a:1']);
    a.send('6', '7');
    expect(log).toEqual(frames('a:', 7));
    expect(a.owner.errors).toEqual([]);
    // Then the pacing goes on: '7' waits for the next turn.
    expect(turn()).toEqual(['a:7']);
  });

  it('past limits.maxHeldRequestBytes held behind another stop, a request is refused too_many_requests', () => {
    const { gate, log } = setup(2, 1, 4);
    const a = gate('a');
    a.gate.stop(WINDOW);
    a.send('0', '1', '2', '3', '4');
    expect(log).toEqual([]);
    expect(a.owner.errors).toEqual(['too_many_requests']);
    a.gate.go(WINDOW);
    expect(log).toEqual(['a:0', 'a:1']);
  });

  it('past the turn’s time, the connection being served and every later one go on first next turn, in order, ahead of those that had their share', () => {
    const { gate, turn, log, meter, stats } = setup(3);
    const [a, b, c] = [gate('a'), gate('b'), gate('c')];
    a.send(...frames('', 5));
    expect(log).toEqual(['a:0', 'a:1', 'a:2']);
    meter.limit = 3;
    // The time is spent: each still takes its first frame of the turn, the rest wait.
    b.send('x', 'y');
    c.send('z', 'w');
    expect(log.slice(3)).toEqual(['b:x', 'c:z']);
    expect(b.socket.paused && c.socket.paused).toBe(true);
    // Next turn: b and c first, in the order they were stopped; then a, cut off after one frame.
    expect(turn()).toEqual(['b:y', 'c:w', 'a:3']);
    expect(b.socket.paused || c.socket.paused).toBe(false);
    expect(turn()).toEqual(['a:4']);
    expect(a.socket.paused).toBe(false);
    expect(stats.readPauses.inbound_ms_per_turn).toBe(3);
    expect(stats.readPauses.frames_per_turn).toBe(1);
  });

  it('a connection alone in the turn, and the only one that took frames in the last turn with any, is bounded by its share only: the turn’s time is there for the others', () => {
    const { gate, turn, log, meter } = setup(4);
    const a = gate('a');
    meter.limit = 1;
    a.send('0');
    expect(turn()).toEqual([]);
    // a alone took frames in the last turn: a steady sender.
    a.send(...frames('', 6, 1));
    expect(log).toEqual(frames('a:', 5));
    expect(turn()).toEqual(['a:5', 'a:6']);
    // Once another takes frames in the same turn, both are held to it.
    const b = gate('b');
    b.send('x', 'y');
    a.send('7', '8');
    expect(log.slice(7)).toEqual(['b:x']);
    expect(turn()).toEqual(['b:y']);
    // Alone again, but b alone took frames in the last turn: a has its first frame, then the time bounds it; once it
    // is the steady one, its share.
    expect(turn()).toEqual(['a:7']);
    expect(turn()).toEqual(['a:8']);
  });

  it('without a share (uWS), a flooder alone so far in its turn is bounded by the turn’s time: the flooders read after it in the same turn do not wait behind its whole burst', () => {
    const { gate, turn, log, meter } = setup(0);
    const [a, b] = [gate('a'), gate('b')];
    meter.limit = 3;
    a.send(...frames('', 10));
    b.send(...frames('', 10));
    expect(log).toEqual(['a:0', 'a:1', 'a:2', 'b:0']);
    expect(turn()).toEqual(['a:3', 'a:4', 'a:5']);
    for (let i = 0; i < 10; i++) turn();
    expect(log.filter((e) => e.startsWith('a:'))).toEqual(frames('a:', 10));
    expect(log.filter((e) => e.startsWith('b:'))).toEqual(frames('b:', 10));
  });

  it('past the turn’s time, the rest of a read is parsed a frame per turn at once, not up to a share', () => {
    const { gate, meter } = setup(8);
    let deferred = 0;
    const [a, b] = [gate('a'), gate('b')];
    (a.socket as unknown as { deferParsing: () => void }).deferParsing = () => void deferred++;
    meter.limit = 0;
    b.send('x');
    a.send('0', '1', '2');
    expect(deferred).toBeGreaterThan(0);
  });

  it('0: no share', () => {
    const { gate, log, scheduled } = setup(0, 0);
    const a = gate('a');
    a.send(...frames('', 100));
    expect(log).toHaveLength(100);
    expect(scheduled()).toBe(0);
  });

  it('model: any arrivals and turns keep each connection in order, within its share per turn, every waiting one served each turn, nothing lost', () => {
    const step = fc.oneof(fc.record({ conn: fc.integer({ min: 0, max: 3 }), n: fc.integer({ min: 1, max: 12 }) }), fc.constant('turn' as const));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }), fc.array(step, { maxLength: 40 }), (share, limit, steps) => {
        const { gate, turn, log, meter } = setup(share);
        meter.limit = limit ?? Infinity;
        const gates = [0, 1, 2, 3].map((i) => gate(`${i}`));
        const sent = [0, 0, 0, 0];
        const seen = () => gates.map((_, i) => log.filter((e) => e.startsWith(`${i}:`)).length);
        const check = (handled: string[], waitingBefore: number[]) => {
          // The turn's time bounds all of them together (the meter here counts frames exactly) once more than one takes frames.
          if (new Set(handled.map((e) => e.split(':')[0])).size > 1) expect(handled.length).toBeLessThanOrEqual(meter.limit);
          for (let i = 0; i < 4; i++) {
            const mine = handled.filter((e) => e.startsWith(`${i}:`)).length;
            expect(mine).toBeLessThanOrEqual(share);
            // Round robin: with time enough, each one waiting at the turn's start takes its whole share (or all it has).
            if (limit === undefined) expect(mine).toBe(Math.min(share, waitingBefore[i]!));
          }
        };
        /** Frames each handled since the last turn began. */
        let sinceTurn = [0, 0, 0, 0];
        for (const s of steps) {
          if (s === 'turn') {
            const before = seen().map((n, i) => sent[i]! - n);
            const handled = turn();
            check(handled, before);
            sinceTurn = sinceTurn.map((_, i) => handled.filter((e) => e.startsWith(`${i}:`)).length);
          } else {
            const from = log.length;
            const waiting = sent[s.conn]! - seen()[s.conn]!;
            gates[s.conn]!.send(...frames('', s.n, sent[s.conn]));
            sent[s.conn]! += s.n;
            // A connection already waiting takes nothing now; one that was not takes its first frame and up to its share.
            const took = log.length - from;
            if (waiting > 0) expect(took).toBe(0);
            else {
              // Its first frame of a turn is never refused for time.
              if (sinceTurn[s.conn] === 0) expect(took).toBeGreaterThanOrEqual(1);
              expect(took).toBeLessThanOrEqual(share);
            }
            sinceTurn[s.conn]! += took;
          }
        }
        for (let k = 0; k < 100 && sent.some((n, i) => n > seen()[i]!); k++) turn();
        for (let i = 0; i < 4; i++) {
          expect(log.filter((e) => e.startsWith(`${i}:`))).toEqual(frames(`${i}:`, sent[i]!));
          expect(gates[i]!.socket.paused).toBe(false);
        }
      }),
    );
  });
});
