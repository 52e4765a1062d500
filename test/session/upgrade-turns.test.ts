import { describe, expect, it } from 'vitest';
import type { UpgradeDecision, UpgradeRequest } from '../../src/net/http.js';
import { Stats } from '../../src/observability/stats.js';
import { TurnAllowance } from '../../src/session/turn-allowance.js';
import { UpgradeTurns } from '../../src/session/upgrade-turns.js';

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
});
