import { describe, expect, it } from 'vitest';
import { TurnAllowance, type Paced } from '../../src/session/turn-allowance.js';

/** A pacer whose turns run when the test says, and writers that write `frame` bytes at a time. */
function setup(bytesPerTurn: number, frame = 100) {
  const turns: Array<() => void> = [];
  const pacer = new TurnAllowance(bytesPerTurn, (fn) => turns.push(fn));
  const log: string[] = [];
  /** A writer with `frames` frames of replay to write, and its own share of `share` bytes per turn. */
  const writer = (name: string, frames: number, share = Infinity) => {
    let left = frames;
    let turn = 0;
    const w: Paced & { left(): number; pump(): void; newTurn(): void } = {
      left: () => left,
      newTurn: () => void (turn = 0),
      pump() {
        while (left > 0) {
          if (turn >= share) return pacer.defer(w);
          if (!pacer.mayGo(w)) return;
          left--;
          turn += frame;
          pacer.spent(frame);
          log.push(name);
        }
      },
      continueTurn: () => w.pump(),
    };
    return w;
  };
  /** Runs the turn scheduled, if any; returns the frames written in it. */
  const turn = (...writers: Array<{ newTurn(): void }>) => {
    for (const w of writers) w.newTurn();
    const from = log.length;
    const fn = turns.shift();
    fn?.();
    return log.slice(from);
  };
  return { pacer, writer, turn, log, scheduled: () => turns.length };
}

describe('TurnAllowance', () => {
  it('lets all replays together write one allowance per turn, first come first served', () => {
    const { writer, turn, log, pacer } = setup(300);
    const a = writer('a', 5);
    const b = writer('b', 5);
    a.pump();
    b.pump();
    // The allowance of the first turn goes to the first replay; the second waits.
    expect(log).toEqual(['a', 'a', 'a']);
    expect(pacer.queued).toBe(2);
    expect(turn()).toEqual(['a', 'a', 'b']);
    expect(turn()).toEqual(['b', 'b', 'b']);
    expect(turn()).toEqual(['b']);
    expect(a.left() + b.left()).toBe(0);
    expect(pacer.queued).toBe(0);
  });

  it('renews the allowance once per turn, even when no one waits', () => {
    const { writer, turn, log, scheduled } = setup(300);
    writer('a', 2).pump();
    expect(log).toEqual(['a', 'a']);
    expect(scheduled()).toBe(1);
    expect(turn()).toEqual([]);
    expect(scheduled()).toBe(0);
    writer('b', 3).pump();
    expect(log).toEqual(['a', 'a', 'b', 'b', 'b']);
  });

  it('sends a replay that wrote its own share of the turn behind those waiting, and calls it on the next turn only', () => {
    const { writer, turn, log } = setup(1000);
    const a = writer('a', 6, 200);
    const b = writer('b', 6, 200);
    a.pump();
    b.pump();
    expect(log).toEqual(['a', 'a', 'b', 'b']);
    expect(turn(a, b)).toEqual(['a', 'a', 'b', 'b']);
    expect(turn(a, b)).toEqual(['a', 'a', 'b', 'b']);
    expect(turn(a, b)).toEqual([]);
  });

  it('0 sets no allowance: only each replay’s own share paces it', () => {
    const { writer, turn, log } = setup(0);
    const a = writer('a', 4, 200);
    a.pump();
    expect(log).toEqual(['a', 'a']);
    expect(turn(a)).toEqual(['a', 'a']);
  });
});
