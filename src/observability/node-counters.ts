import { CLOSE } from '../protocol/close-codes.js';
import type { Clock } from '../util/clock.js';
import type { MemoryBudget } from '../util/memory-budget.js';
import type { Stats } from './stats.js';

/** One connection's outbound queue, as the health assessment reads it. */
export interface QueueView {
  readonly id: string;
  readonly utilisation: number;
  readonly queuedBytes: number;
}

/**
 * The node's live state, read (never copied) by /metrics, the health summary and the dashboard:
 * the plain counters of Stats, and the figures only the gateway, the hub and the broker know.
 */
export interface NodeState {
  readonly stats: Stats;
  connectionCount(): number;
  channelCount(): number;
  /** Messages accepted for publication on this node. */
  publications(): number;
  /** Of those, the ones handed to all their local subscribers through the transport's own fan-out (uWS topics); absent: none. */
  topicPublications?(): number;
  /** The outbound queue of every open connection. */
  queues(): Iterable<QueueView>;
  /** The broker's state (see docs/scaling.md); absent in unit tests that have none. */
  readonly broker?: {
    ready(): boolean;
    /** Channel streams repaired from history after the node missed publications. */
    repairs(): number;
    /** `unavailable` / `reset` notices sent (one per channel and repair, to all its local subscribers). */
    notices(): number;
  };
  /** The memory budget and what it did; absent in unit tests that have none. */
  readonly memory?: {
    readonly budget: MemoryBudget;
    /** Channels whose history was dropped to stay within the budget. */
    historyEvictions(): number;
    /** Connections closed 4100, and queues shed, at the hard mark. */
    closed(): number;
    shedQueues(): number;
  };
}

/** Every monotonic figure of a node, under the one name each reader uses. */
export const COUNTERS = {
  connectionsOpened: (n: NodeState) => n.stats.connectionsOpened,
  connectionsRejected: (n: NodeState) => n.stats.connectionsRejected,
  messagesIn: (n: NodeState) => n.stats.messagesIn,
  bytesIn: (n: NodeState) => n.stats.bytesIn,
  messagesOut: (n: NodeState) => n.stats.messagesOut,
  bytesOut: (n: NodeState) => n.stats.bytesOut,
  deltasOut: (n: NodeState) => n.stats.deltasOut,
  publications: (n: NodeState) => n.publications(),
  topicPublications: (n: NodeState) => n.topicPublications?.() ?? 0,
  dropped: (n: NodeState) => n.stats.shed.dropped,
  conflated: (n: NodeState) => n.stats.shed.conflated,
  expired: (n: NodeState) => n.stats.shed.expired,
  gapFrames: (n: NodeState) => n.stats.gapFrames,
  rateLimited: (n: NodeState) => n.stats.rateLimited,
  inboundPauses: (n: NodeState) => n.stats.inboundPauses,
  invalidFrames: (n: NodeState) => n.stats.invalidFrames,
  backpressureEvents: (n: NodeState) => n.stats.backpressureEvents,
  windowWaits: (n: NodeState) => n.stats.windowWaits,
  slowConsumerDisconnects: (n: NodeState) => n.stats.closesByCode.get(CLOSE.slow_consumer.code) ?? 0,
  rateLimitDisconnects: (n: NodeState) => n.stats.closesByCode.get(CLOSE.rate_limit_strikes.code) ?? 0,
  upgradesRefused: (n: NodeState) => n.stats.upgradesRefused,
  authFailures: (n: NodeState) => n.stats.authFailures,
  forbidden: (n: NodeState) => n.stats.forbidden,
  apiPublications: (n: NodeState) => n.stats.apiPublications,
  httpRequestsRefused: (n: NodeState) => n.stats.httpRequestsRefused,
  brokerRepairs: (n: NodeState) => n.broker?.repairs() ?? 0,
  brokerNotices: (n: NodeState) => n.broker?.notices() ?? 0,
  historyEvictions: (n: NodeState) => n.memory?.historyEvictions() ?? 0,
  memoryClosed: (n: NodeState) => n.memory?.closed() ?? 0,
  memoryShedQueues: (n: NodeState) => n.memory?.shedQueues() ?? 0,
} as const satisfies Record<string, (n: NodeState) => number>;

export type CounterName = keyof typeof COUNTERS;

export function readCounters<K extends CounterName>(node: NodeState, names: readonly K[]): Record<K, number> {
  const reading = {} as Record<K, number>;
  for (const name of names) reading[name] = COUNTERS[name](node);
  return reading;
}

export interface CounterGrowth<K extends CounterName> {
  /** Each counter's value now. */
  readonly totals: Readonly<Record<K, number>>;
  /** Each counter's growth over the window. */
  readonly delta: Readonly<Record<K, number>>;
  /** Time the window covered, ms. */
  readonly elapsedMs: number;
}

/**
 * Growth of some counters between successive reads, against a baseline of its own: the health log
 * line and the dashboard each keep one and read at their own pace.
 */
export class CounterWindow<K extends CounterName> {
  private last: Record<K, number>;
  private lastAt: number;

  constructor(
    private readonly node: NodeState,
    private readonly names: readonly K[],
    private readonly clock: Clock,
  ) {
    this.last = readCounters(node, names);
    this.lastAt = clock();
  }

  /** Starts a fresh window now. */
  reset(): void {
    this.last = readCounters(this.node, this.names);
    this.lastAt = this.clock();
  }

  /** The growth since the window began, and a new window from now. */
  next(): CounterGrowth<K> {
    const totals = readCounters(this.node, this.names);
    const at = this.clock();
    const delta = {} as Record<K, number>;
    for (const name of this.names) delta[name] = totals[name] - this.last[name];
    const elapsedMs = at - this.lastAt;
    this.last = totals;
    this.lastAt = at;
    return { totals, delta, elapsedMs };
  }
}
