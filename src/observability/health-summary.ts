import type { Logger } from './logger.js';
import type { Stats } from './stats.js';

export interface QueueView {
  readonly id: string;
  readonly utilisation: number;
  readonly queuedBytes: number;
}

export interface HealthSource {
  readonly stats: Stats;
  connectionCount(): number;
  queues(): Iterable<QueueView>;
}

/** Share of a queue's hard limit above which the health summary warns. */
export const QUEUE_WARN_UTILISATION = 0.8;

/**
 * A periodic one-line account of flow control: what was shed, rejected and queued since the last
 * summary, and a warning naming the connections whose queues run above 80%.
 */
export class HealthSummary {
  private last = { rateLimited: 0, dropped: 0, conflated: 0, expired: 0, backpressure: 0, messagesIn: 0, messagesOut: 0 };

  constructor(
    private readonly source: HealthSource,
    private readonly log: Logger,
  ) {}

  report(): void {
    const { stats } = this.source;
    const now = {
      rateLimited: stats.rateLimited,
      dropped: stats.shed.dropped,
      conflated: stats.shed.conflated,
      expired: stats.shed.expired,
      backpressure: stats.backpressureEvents,
      messagesIn: stats.messagesIn,
      messagesOut: stats.messagesOut,
    };
    const delta = Object.fromEntries(Object.entries(now).map(([k, v]) => [k, v - this.last[k as keyof typeof now]]));
    this.last = now;
    let queuedBytes = 0;
    let maxUtilisation = 0;
    const hot: QueueView[] = [];
    for (const q of this.source.queues()) {
      queuedBytes += q.queuedBytes;
      if (q.utilisation > maxUtilisation) maxUtilisation = q.utilisation;
      if (q.utilisation > QUEUE_WARN_UTILISATION) hot.push(q);
    }
    const summary = { connections: this.source.connectionCount(), queuedBytes, maxQueueUtilisation: Number(maxUtilisation.toFixed(3)), ...delta };
    if (hot.length > 0) {
      hot.sort((a, b) => b.utilisation - a.utilisation);
      this.log.warn({ ...summary, queuesAbove80: hot.length, worst: hot.slice(0, 5).map((q) => q.id) }, 'health: outbound queues above 80%');
    } else {
      this.log.info(summary, 'health');
    }
  }
}
