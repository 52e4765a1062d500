import { describe, expect, it } from 'vitest';
import type { UpgradeDecision, UpgradeRequest } from '../../src/net/http.js';
import { Stats } from '../../src/observability/stats.js';
import { TurnAllowance } from '../../src/session/turn-allowance.js';
import { UpgradeTurns } from '../../src/session/upgrade-turns.js';
import { WorkMeter } from '../../src/util/work-meter.js';

function setup(perTurn: number, maxWaiting: number) {
  const turns: Array<() => void> = [];
  const decided: string[] = [];
  const stats = new Stats();
  const upgrades = new UpgradeTurns(
    new TurnAllowance(perTurn, (fn) => turns.push(fn)),
    (request) => {
      decided.push(request.url);
      return { accept: true, context: request.url };
    },
    maxWaiting,
    7,
    stats,
  );
  const request = (url: string): UpgradeRequest => ({ url, headers: {}, remoteAddress: '127.0.0.1' });
  /** Runs the turn scheduled, then lets promise callbacks run; returns what was decided in it. */
  const turn = async () => {
    const from = decided.length;
    turns.shift()?.();
    await Promise.resolve();
    return decided.slice(from);
  };
  return { upgrades, request, turn, decided, stats };
}

describe('UpgradeTurns', () => {
  it('decides perTurn upgrades per turn, the rest on later turns in the order they came, none overtaking', async () => {
    const { upgrades, request, turn, decided } = setup(2, 100);
    const answers: Array<UpgradeDecision | Promise<UpgradeDecision>> = [];
    for (const url of ['a', 'b', 'c', 'd', 'e']) answers.push(upgrades.upgrade(request(url)));
    expect(decided).toEqual(['a', 'b']);
    expect(await turn()).toEqual(['c', 'd']);
    // A newcomer waits behind the one still waiting, though this turn's allowance is not spent.
    answers.push(upgrades.upgrade(request('f')));
    expect(await turn()).toEqual(['e', 'f']);
    const contexts = (await Promise.all(answers)).map((d) => (d.accept ? d.context : undefined));
    expect(contexts).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  it('refuses 503 with Retry-After at once past maxWaiting', () => {
    const { upgrades, request, stats } = setup(1, 2);
    upgrades.upgrade(request('a'));
    void upgrades.upgrade(request('b'));
    void upgrades.upgrade(request('c'));
    const refused = upgrades.upgrade(request('d'));
    expect(refused).toMatchObject({ accept: false, status: 503, headers: { 'Retry-After': '7' } });
    expect(stats.connectionsRejected).toBe(1);
  });

  it('0: every upgrade decided at once', () => {
    const { upgrades, request, decided } = setup(0, 1);
    for (let i = 0; i < 100; i++) upgrades.upgrade(request(String(i)));
    expect(decided).toHaveLength(100);
  });

  it('limits.upgradeMsPerTurn: past the time of the turn the rest wait, in order; completions of waiting upgrades are timed too', async () => {
    // The clock moves 1 ms per upgrade the "transport" completes: sync for a decision, in the
    // decision's promise reaction for one that waited (as both transports do).
    let now = 0;
    const turns: Array<() => void> = [];
    const completed: string[] = [];
    const upgrades = new UpgradeTurns(
      new TurnAllowance(100, (fn) => turns.push(fn), new WorkMeter(3, () => now)),
      (request) => ({ accept: true, context: request.url }),
      1000,
      7,
      new Stats(),
    );
    const complete = (d: UpgradeDecision): void => {
      now += 1;
      if (d.accept) completed.push(d.context as string);
    };
    /** One request arriving in a callback of its own (its stretch of work ends with it). */
    const arrive = async (url: string): Promise<void> => {
      const decision = upgrades.upgrade({ url, headers: {}, remoteAddress: '127.0.0.1' });
      if (decision instanceof Promise) void decision.then(complete);
      else complete(decision);
      await new Promise((resolve) => setImmediate(resolve));
    };
    const turn = async (): Promise<string[]> => {
      const from = completed.length;
      turns.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
      return completed.slice(from);
    };
    const urls = Array.from({ length: 12 }, (_, i) => `u${i}`);
    for (const url of urls) await arrive(url);
    // 3 ms at 1 ms each; the fourth finds the time spent and waits with the rest.
    expect(completed).toEqual(urls.slice(0, 3));
    expect(upgrades.pending).toBe(9);
    const perTurn: number[] = [];
    while (upgrades.pending > 0) perTurn.push((await turn()).length);
    expect(completed).toEqual(urls);
    // Each turn: its time's worth, plus at most the few between two reads of the clock.
    for (const n of perTurn) expect(n).toBeGreaterThanOrEqual(1);
    for (const n of perTurn) expect(n).toBeLessThanOrEqual(3 + 3);
    expect(perTurn.length).toBeGreaterThan(1);
  });
});
