/**
 * The process-wide memory budget: every structure that grows with what clients do charges its
 * bytes to one pool, where they enter and leave it (a number added, a number subtracted: O(1), no
 * allocation). The budget compares the total with two marks; crossing one only schedules a relief
 * pass (at most one per `reliefEveryMs`), so no message ever pays for a scan.
 *
 * Marks: above `soft` (70% of the budget) the gateway refuses new work and evicts the history of
 * channels nobody watches; above `hard` (90%) it sheds queued messages of lossy channels from the
 * largest queues, then closes the biggest holders. See docs/operations.md, "The memory budget".
 */

export const POOL_NAMES = ['outbound', 'replay', 'history', 'held', 'connections', 'http', 'ipTable', 'dashboard', 'keyed'] as const;
export type PoolName = (typeof POOL_NAMES)[number];

export type Pressure = 'none' | 'soft' | 'hard';

export const SOFT_MARK = 0.7;
export const HARD_MARK = 0.9;
/** History may hold at most this share of the budget, whatever the pressure from the other pools. */
export const HISTORY_SHARE = 0.4;

/** The bytes one kind of structure holds. */
export class MemoryPool {
  bytes = 0;

  constructor(
    readonly name: PoolName,
    private readonly budget: MemoryBudget,
  ) {}

  add(n: number): void {
    this.bytes += n;
    this.budget.grew(n);
  }

  sub(n: number): void {
    this.bytes -= n;
    this.budget.total -= n;
  }

  /** Sets the pool to a measured figure (for pools read, not counted: the dashboard's buffers). */
  set(n: number): void {
    if (n > this.bytes) this.add(n - this.bytes);
    else this.sub(this.bytes - n);
  }
}

export interface BudgetTimers {
  /** Runs `fn` once after `ms` (a timer that must not keep the process alive). */
  later(fn: () => void, ms: number): void;
  now(): number;
}

export class MemoryBudget {
  /** Accounted bytes over every pool. */
  total = 0;
  /** 0 = no budget: pools are measured, nothing is refused or evicted. */
  readonly limit: number;
  readonly soft: number;
  readonly hard: number;
  /** Above this the history pool evicts even without pressure from the others. */
  readonly historyBound: number;
  readonly pools: Readonly<Record<PoolName, MemoryPool>>;
  /** Relief passes run so far (observability). */
  reliefs = 0;
  private relief: (() => void) | undefined;
  private scheduled = false;
  private lastRelief = -Infinity;

  constructor(
    limit: number,
    private readonly timers: BudgetTimers,
    private readonly reliefEveryMs = 50,
  ) {
    this.limit = limit;
    this.soft = limit > 0 ? Math.floor(limit * SOFT_MARK) : Infinity;
    this.hard = limit > 0 ? Math.floor(limit * HARD_MARK) : Infinity;
    this.historyBound = limit > 0 ? Math.floor(limit * HISTORY_SHARE) : Infinity;
    const pools = {} as Record<PoolName, MemoryPool>;
    for (const name of POOL_NAMES) pools[name] = new MemoryPool(name, this);
    this.pools = pools;
  }

  get pressure(): Pressure {
    return this.total > this.hard ? 'hard' : this.total > this.soft ? 'soft' : 'none';
  }

  /** New work (connections, API publishes) is refused above the soft mark. */
  get refusing(): boolean {
    return this.total > this.soft;
  }

  /** The pass that frees memory, run after a mark is crossed (and at each housekeeping sweep). */
  onRelief(relief: () => void): void {
    this.relief = relief;
  }

  /** A pool grew: past a mark (or the history bound), a relief pass is scheduled, once. */
  grew(n: number): void {
    this.total += n;
    if (!this.scheduled && (this.total > this.soft || this.pools.history.bytes > this.historyBound)) this.schedule();
  }

  /** Runs the relief pass now if memory is above a mark (the housekeeping sweep calls this). */
  check(): void {
    if (this.total > this.soft || this.pools.history.bytes > this.historyBound) this.run();
  }

  private schedule(): void {
    this.scheduled = true;
    const wait = Math.max(0, this.lastRelief + this.reliefEveryMs - this.timers.now());
    this.timers.later(() => this.run(), wait);
  }

  private run(): void {
    this.scheduled = false;
    this.lastRelief = this.timers.now();
    this.reliefs++;
    this.relief?.();
  }
}

/** A pool of a budget of its own that enforces nothing: for structures built outside a gateway (tests, tools). */
export function unmeteredPool(name: PoolName): MemoryPool {
  return new MemoryBudget(0, { now: () => 0, later: () => {} }).pools[name];
}
