import type { Clock } from '../util/clock.js';
import type { Logger } from './logger.js';
import { CounterWindow, type NodeState, type QueueView } from './node-counters.js';

/** Share of a queue's hard limit above which the health summary warns. */
export const QUEUE_WARN_UTILISATION = 0.8;
/**
 * Sockets crossing their high-water mark this often (events per second, whole node) means clients
 * keep reading slower than they are sent to: worth a warning before queues fill.
 */
export const BACKPRESSURE_WARN_PER_SECOND = 20;
/** How many of the worst queues a warning names. */
const WORST_NAMED = 5;

const HEALTH_COUNTERS = ['rateLimited', 'dropped', 'conflated', 'expired', 'backpressureEvents', 'messagesIn', 'messagesOut'] as const;
export type HealthCounter = (typeof HEALTH_COUNTERS)[number];

export interface HealthReport {
  readonly connections: number;
  readonly queuedBytes: number;
  readonly maxQueueUtilisation: number;
  /** Growth of each counter since the previous assessment. */
  readonly delta: Readonly<Record<HealthCounter, number>>;
  /** Time covered by `delta`. */
  readonly elapsedMs: number;
  /** Queues above QUEUE_WARN_UTILISATION. */
  readonly queuesAbove80: number;
  /** Ids of the fullest of those, fullest first. */
  readonly worst: readonly string[];
  /** Human-readable warnings; empty when all is well. */
  readonly warnings: readonly string[];
}

/**
 * Judges flow-control health from the plain counters and the open queues. Each instance keeps its
 * own baseline, so the periodic log line and the dashboard can assess at their own pace.
 */
export class HealthAssessor {
  private readonly window: CounterWindow<HealthCounter>;

  constructor(
    private readonly node: NodeState,
    clock: Clock,
  ) {
    this.window = new CounterWindow(node, HEALTH_COUNTERS, clock);
  }

  assess(): HealthReport {
    const { delta, elapsedMs } = this.window.next();

    let queuedBytes = 0;
    let maxUtilisation = 0;
    const hot: QueueView[] = [];
    for (const q of this.node.queues()) {
      queuedBytes += q.queuedBytes;
      if (q.utilisation > maxUtilisation) maxUtilisation = q.utilisation;
      if (q.utilisation > QUEUE_WARN_UTILISATION) hot.push(q);
    }
    hot.sort((a, b) => b.utilisation - a.utilisation);
    const worst = hot.slice(0, WORST_NAMED).map((q) => q.id);
    const warnings: string[] = [];
    if (hot.length > 0) warnings.push(`${hot.length} outbound queue(s) above ${QUEUE_WARN_UTILISATION * 100}%: ${worst.join(', ')}`);
    const backpressurePerSecond = elapsedMs > 0 ? (delta.backpressureEvents * 1000) / elapsedMs : 0;
    if (backpressurePerSecond > BACKPRESSURE_WARN_PER_SECOND) {
      warnings.push(`frequent backpressure: ${backpressurePerSecond.toFixed(1)} high-water-mark crossings/s (warns above ${BACKPRESSURE_WARN_PER_SECOND}/s)`);
    }
    return {
      connections: this.node.connectionCount(),
      queuedBytes,
      maxQueueUtilisation: Number(maxUtilisation.toFixed(3)),
      delta,
      elapsedMs,
      queuesAbove80: hot.length,
      worst,
      warnings,
    };
  }
}

/**
 * A periodic one-line account of flow control: what was shed, rejected and queued since the last
 * summary, and a warning naming the connections whose queues run above 80%.
 */
export class HealthSummary {
  private readonly assessor: HealthAssessor;

  constructor(
    node: NodeState,
    private readonly log: Logger,
    clock: Clock,
  ) {
    this.assessor = new HealthAssessor(node, clock);
  }

  report(): void {
    const r = this.assessor.assess();
    const summary = { connections: r.connections, queuedBytes: r.queuedBytes, maxQueueUtilisation: r.maxQueueUtilisation, ...r.delta };
    if (r.warnings.length === 0) this.log.info(summary, 'health');
    else {
      const msg = r.queuesAbove80 > 0 ? 'health: outbound queues above 80%' : 'health: frequent backpressure';
      this.log.warn({ ...summary, queuesAbove80: r.queuesAbove80, worst: r.worst, warnings: r.warnings }, msg);
    }
  }
}
