import type { UpgradeDecision, UpgradeRequest } from '../net/http.js';
import type { Stats } from '../observability/stats.js';
import { HTTP_REFUSALS } from '../protocol/refusals.js';
import type { Paced, TurnAllowance } from './turn-allowance.js';

type Decide = (request: UpgradeRequest) => UpgradeDecision | Promise<UpgradeDecision>;

/** An upgrade that waits for a later turn's allowance. */
class WaitingUpgrade implements Paced {
  constructor(
    private readonly turns: UpgradeTurns,
    readonly request: UpgradeRequest,
    private readonly resolve: (decision: UpgradeDecision | Promise<UpgradeDecision>) => void,
    private readonly reject: (err: unknown) => void,
  ) {}

  continueTurn(): void {
    try {
      this.resolve(this.turns.decideNow(this.request));
    } catch (err) {
      this.reject(err);
    }
  }
}

/**
 * WebSocket upgrades decided, and so completed (handshake, connection, `hello`), per event-loop
 * turn for the whole process (`limits.upgradesPerTurn`): a thousand clients connecting at once
 * are taken over several turns, in the order they came, instead of in one long turn. Upgrades that
 * wait are decided (admission, tokens, connect hook) when their turn comes; at most
 * `limits.maxConnections` wait, past which an upgrade is refused `503` (at capacity) at once.
 * Both transports answer a deferred decision as they answer one that verifies a token.
 */
export class UpgradeTurns {
  constructor(
    private readonly allowance: TurnAllowance,
    private readonly decide: Decide,
    private readonly maxWaiting: number,
    private readonly retryAfterSec: number,
    private readonly stats: Stats,
  ) {}

  /** The decision now while this turn's allowance lasts and nobody waits; else on a later turn, in order. */
  upgrade(request: UpgradeRequest): UpgradeDecision | Promise<UpgradeDecision> {
    const { allowance } = this;
    if (allowance.queued === 0 && allowance.hasLeft()) return this.decideNow(request);
    if (allowance.queued >= this.maxWaiting) {
      this.stats.connectionsRejected++;
      const { status, reason } = HTTP_REFUSALS.at_capacity;
      return { accept: false, status, headers: { 'Retry-After': String(this.retryAfterSec) }, body: `${reason}\n` };
    }
    return new Promise((resolve, reject) => allowance.defer(new WaitingUpgrade(this, request, resolve, reject)));
  }

  decideNow(request: UpgradeRequest): UpgradeDecision | Promise<UpgradeDecision> {
    this.allowance.spent(1);
    return this.decide(request);
  }
}
