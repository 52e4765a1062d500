import type { Hub } from '../hub/hub.js';
import type { Logger } from '../observability/logger.js';
import type { MemoryBudget } from '../util/memory-budget.js';
import type { Connection } from './connection.js';

/** A pass frees down to this share of the mark it acts on, so the next bytes do not cross it again at once. */
const HYSTERESIS = 0.9;

/**
 * What the gateway does as its memory budget fills, run by the budget after a mark is crossed
 * (at most every 50 ms) and by the housekeeping sweep. Never per message: a pass scans the idle
 * channels and, at the hard mark only, the connections.
 * - History past its share of the budget, or any pressure above the soft mark: the history of
 *   channels nobody watches goes, least recently used first (admission refuses meanwhile: the
 *   upgrade gate and the publish API ask `budget.refusing`).
 * - Above the hard mark: the queued messages of lossy channels go, from the largest queues down;
 *   then the connections holding the most (queue and replay) are closed 4100, largest first,
 *   until the total is back under the mark.
 */
export class MemoryRelief {
  /** Connections closed and queues shed by the relief (observability). */
  closed = 0;
  shedQueues = 0;

  constructor(
    private readonly budget: MemoryBudget,
    private readonly hub: Hub,
    private readonly connections: () => Iterable<Connection>,
    private readonly log: Logger,
  ) {}

  run(): void {
    const { budget } = this;
    const history = budget.pools.history;
    if (budget.total > budget.soft || history.bytes > budget.historyBound) {
      const excess = Math.max(0, budget.total - budget.soft * HYSTERESIS);
      this.hub.relieveHistory(Math.min(budget.historyBound * HYSTERESIS, Math.max(0, history.bytes - excess)));
    }
    if (budget.total <= budget.hard) return;
    const target = budget.hard * HYSTERESIS;
    const largest = [...this.connections()].filter((c) => !c.isClosing).sort((a, b) => b.writer.heldBytes - a.writer.heldBytes);
    for (const conn of largest) {
      if (budget.total <= target) return;
      if (conn.writer.shedLossy() > 0) this.shedQueues++;
    }
    for (const conn of largest) {
      if (budget.total <= target) break;
      if (conn.writer.heldBytes === 0) continue;
      this.log.warn({ conn: conn.id, ip: conn.ip, heldBytes: conn.writer.heldBytes, budgetBytes: budget.total }, 'memory pressure: closing the largest holder');
      this.closed++;
      conn.slowConsumer();
    }
  }
}
