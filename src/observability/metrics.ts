import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { COUNTERS, type CounterName, type NodeState } from './node-counters.js';

/**
 * Prometheus metrics read from the node's counters (node-counters.ts) at scrape time, so the hot
 * path never touches prom-client. One registry per gateway (several in one process are fine).
 */
export function createMetrics(node: NodeState): Registry {
  const registry = new Registry();
  const { stats } = node;
  collectDefaultMetrics({ register: registry, prefix: 'sluice_', eventLoopMonitoringPrecision: 20 });

  /** A counter that follows one of the node's counters: increments by what it grew since the last scrape. */
  const follow = (name: string, help: string, counter: CounterName): void => {
    const read = COUNTERS[counter];
    let last = 0;
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const now = read(node);
        if (now > last) this.inc(now - last);
        last = now;
      },
    });
  };
  follow('sluice_connections_opened_total', 'WebSocket connections accepted', 'connectionsOpened');
  follow('sluice_connections_rejected_total', 'Connections refused at limits.maxConnections (HTTP 503 before the upgrade, or 4102 after it)', 'connectionsRejected');
  follow('sluice_messages_in_total', 'Frames received from clients', 'messagesIn');
  follow('sluice_bytes_in_total', 'Bytes received from clients (frame payloads)', 'bytesIn');
  follow('sluice_messages_out_total', 'Frames written to clients (data and control)', 'messagesOut');
  follow('sluice_bytes_out_total', 'Bytes written to clients (frame payloads)', 'bytesOut');
  follow('sluice_delta_frames_total', 'Publications written to clients as a delta against the value they hold (docs/keyed.md)', 'deltasOut');
  follow('sluice_rate_limited_total', 'Inbound frames rejected by the token buckets', 'rateLimited');
  follow('sluice_inbound_pauses_total', 'Times reading was paused by the token buckets (pause mode)', 'inboundPauses');
  follow('sluice_invalid_frames_total', 'Inbound frames answered with a protocol error', 'invalidFrames');
  follow('sluice_backpressure_events_total', 'Times a socket crossed its high-water mark', 'backpressureEvents');
  follow('sluice_window_waits_total', "Times a connection's receive window filled and its data started queueing", 'windowWaits');
  follow('sluice_gap_frames_total', 'Gap notices sent to clients', 'gapFrames');
  follow('sluice_publications_total', 'Messages published into channels on this node', 'publications');
  follow('sluice_topic_publications_total', 'Publications handed to all their subscribers on this node in one call through the transport fan-out (uws topics)', 'topicPublications');
  follow('sluice_upgrades_refused_total', 'Upgrades refused by admission limits (origin, capacity, per-IP)', 'upgradesRefused');
  follow('sluice_auth_failures_total', 'Upgrades and in-band refreshes refused for a missing or invalid token', 'authFailures');
  follow('sluice_forbidden_total', 'Subscribe/publish requests refused by channel permissions', 'forbidden');
  follow('sluice_api_publications_total', 'Publications accepted by the HTTP publish API', 'apiPublications');
  follow('sluice_http_requests_refused_total', 'Plain HTTP requests refused with 503 because limits.maxHttpRequests were in progress', 'httpRequestsRefused');
  new Gauge({
    name: 'sluice_http_requests_in_progress',
    help: 'Plain HTTP requests being served (this scrape included); at most limits.maxHttpRequests',
    registers: [registry],
    collect() {
      this.set(stats.httpRequestsInProgress);
    },
  });

  const shedLast = { dropped: 0, conflated: 0, expired: 0 };
  new Counter({
    name: 'sluice_messages_shed_total',
    help: 'Messages not delivered to a slow consumer, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      for (const reason of ['dropped', 'conflated', 'expired'] as const) {
        const now = COUNTERS[reason](node);
        if (now > shedLast[reason]) this.inc({ reason }, now - shedLast[reason]);
        shedLast[reason] = now;
      }
    },
  });
  const pauseLast = { publish_window: 0, replies: 0, subscription_order: 0, subscribes_per_turn: 0, frames_per_turn: 0, inbound_ms_per_turn: 0, http_body_bytes_per_turn: 0 };
  new Counter({
    name: 'sluice_read_pauses_total',
    help: 'Times a connection stopped reading its requests: its publish window was full, its replies backed up, a sub waited for an earlier one, or for the next turn, or the connection had its share of the turn; or an HTTP request stopped reading its body for the turn\'s body allowance',
    labelNames: ['cause'],
    registers: [registry],
    collect() {
      for (const cause of ['publish_window', 'replies', 'subscription_order', 'subscribes_per_turn', 'frames_per_turn', 'inbound_ms_per_turn', 'http_body_bytes_per_turn'] as const) {
        const now = stats.readPauses[cause];
        if (now > pauseLast[cause]) this.inc({ cause }, now - pauseLast[cause]);
        pauseLast[cause] = now;
      }
    },
  });
  const closeLast = new Map<number, number>();
  new Counter({
    name: 'sluice_disconnects_total',
    help: 'Connections closed by the server, by close code',
    labelNames: ['code'],
    registers: [registry],
    collect() {
      for (const [code, now] of stats.closesByCode) {
        const last = closeLast.get(code) ?? 0;
        if (now > last) this.inc({ code: String(code) }, now - last);
        closeLast.set(code, now);
      }
    },
  });
  if (node.broker !== undefined) {
    const broker = node.broker;
    new Gauge({
      name: 'sluice_broker_ready',
      help: '1 while the broker (Redis) is connected and every channel subscribed, else 0',
      registers: [registry],
      collect() {
        this.set(broker.ready() ? 1 : 0);
      },
    });
    follow('sluice_broker_repairs_total', 'Channel streams repaired from history after this node missed publications', 'brokerRepairs');
    follow('sluice_broker_notices_total', 'Channel notices (gap reason unavailable or reset) sent after a repair found messages lost', 'brokerNotices');
  }
  new Gauge({
    name: 'sluice_connections',
    help: 'Open WebSocket connections',
    registers: [registry],
    collect() {
      this.set(node.connectionCount());
    },
  });
  if (node.memory !== undefined) {
    const { budget } = node.memory;
    new Gauge({
      name: 'sluice_memory_bytes',
      help: 'Bytes accounted to each pool of the memory budget',
      labelNames: ['pool'],
      registers: [registry],
      collect() {
        for (const pool of Object.values(budget.pools)) this.set({ pool: pool.name }, pool.bytes);
      },
    });
    new Gauge({
      name: 'sluice_memory_budget_bytes',
      help: 'limits.memoryBudgetBytes (0: measured, not enforced)',
      registers: [registry],
      collect() {
        this.set(budget.limit);
      },
    });
    new Gauge({
      name: 'sluice_memory_pressure',
      help: '0 below the soft mark, 1 above it (refusing new work, evicting idle history), 2 above the hard mark (shedding, closing)',
      registers: [registry],
      collect() {
        this.set(budget.pressure === 'hard' ? 2 : budget.pressure === 'soft' ? 1 : 0);
      },
    });
    follow('sluice_memory_history_evictions_total', 'Channels whose history was dropped to keep memory within the budget', 'historyEvictions');
    follow('sluice_memory_shed_queues_total', 'Outbound queues whose lossy messages were shed at the hard mark', 'memoryShedQueues');
    follow('sluice_memory_closes_total', 'Connections closed 4100 as the largest holders at the hard mark', 'memoryClosed');
  }
  new Gauge({
    name: 'sluice_channels',
    help: 'Channels held in memory',
    registers: [registry],
    collect() {
      this.set(node.channelCount());
    },
  });
  new Histogram({
    name: 'sluice_outbound_queue_bytes',
    help: 'Queued outbound bytes per connection, sampled at scrape time',
    buckets: [0, 1024, 16 * 1024, 64 * 1024, 256 * 1024, 512 * 1024, 1024 * 1024, 4 * 1024 * 1024],
    registers: [registry],
    collect() {
      this.reset();
      for (const queue of node.queues()) this.observe(queue.queuedBytes);
    },
  });
  return registry;
}
