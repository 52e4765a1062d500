import type { UpgradeDecision, UpgradeRequest } from '../net/http.js';
import type { Stats } from '../observability/stats.js';
import { HTTP_REFUSALS } from '../protocol/refusals.js';
import { Ring } from '../flow/ring.js';
import type { Paced, TurnAllowance } from './turn-allowance.js';

type Decide = (request: UpgradeRequest) => UpgradeDecision | Promise<UpgradeDecision>;

/** An upgrade that waits for a later turn. */
interface Waiting {
  readonly request: UpgradeRequest;
  readonly resolve: (decision: UpgradeDecision | Promise<UpgradeDecision>) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * WebSocket upgrades decided, and so completed (handshake, connection, `hello`), per event-loop
 * turn for the whole process: at most `limits.upgradesPerTurn` and `limits.upgradeMsPerTurn` of
 * the loop's time (the allowance's meter), so a thousand clients connecting at once are taken
 * over several turns, in the order they came, instead of in one long turn. Upgrades that wait are
 * decided (admission, tokens, connect hook) when their turn comes, one after the other: the
 * transport completes a waiting upgrade in the promise reaction its decision queues, so the next
 * is decided in a reaction queued behind it, and the meter times the completions. At most
 * `limits.maxConnections` wait, past which an upgrade is refused `503` (at capacity) at once.
 * Both transports answer a deferred decision as they answer one that verifies a token.
 */
export class UpgradeTurns implements Paced {
  private readonly waiting: Ring<Waiting>;

  constructor(
    private readonly allowance: TurnAllowance,
    private readonly decide: Decide,
    private readonly maxWaiting: number,
    private readonly retryAfterSec: number,
    private readonly stats: Stats,
  ) {
    this.waiting = new Ring(maxWaiting);
  }

  /** Upgrades waiting for a later turn. */
  get pending(): number {
    return this.waiting.length;
  }

  /** The decision now while this turn's allowance lasts and nobody waits; else on a later turn, in order. */
  upgrade(request: UpgradeRequest): UpgradeDecision | Promise<UpgradeDecision> {
    if (this.pending === 0 && this.mayGo()) return this.decideNow(request);
    if (this.pending >= this.maxWaiting) {
      this.stats.connectionsRejected++;
      const { status, reason } = HTTP_REFUSALS.at_capacity;
      return { accept: false, status, headers: { 'Retry-After': String(this.retryAfterSec) }, body: `${reason}\n` };
    }
    return new Promise((resolve, reject) => this.waiting.push({ request, resolve, reject }));
  }

  continueTurn(): void {
    this.next();
  }

  /** This turn's count and time last; else this is called back on a later turn. */
  private mayGo(): boolean {
    return this.allowance.mayGo(this) && this.allowance.withinTime(this);
  }

  private decideNow(request: UpgradeRequest): UpgradeDecision | Promise<UpgradeDecision> {
    this.allowance.spent(1);
    return this.decide(request);
  }

  /** Decides the first waiting upgrade, and the next in a reaction behind the one completing it. */
  private readonly next = (): void => {
    if (this.pending === 0 || !this.mayGo()) return;
    const waiting = this.waiting.shift()!;
    try {
      waiting.resolve(this.decideNow(waiting.request));
    } catch (err) {
      waiting.reject(err);
    }
    queueMicrotask(this.next);
  };
}
