import type { ShedReason } from '../protocol/policy.js';
import type { HealthAssessor } from '../observability/health-summary.js';
import { CounterWindow, type NodeState } from '../observability/node-counters.js';
import type { Clock } from '../util/clock.js';
import type { MemoryBudget } from '../util/memory-budget.js';
import { BackendPanel, type BackendSnapshot, type DashboardBackend } from './backend-panel.js';
import { TopK } from './top-k.js';

/** What the dashboard reads of a connection: the same fields the close log and /metrics use. */
export interface DashboardConnection {
  readonly id: string;
  readonly socket: { readonly remoteAddress: string };
  readonly rateLimited: number;
  readonly messagesIn: number;
  readonly subscriptionCount: number;
  readonly writer: {
    readonly queuedBytes: number;
    readonly queuedMessages: number;
    readonly utilisation: number;
    oldestQueuedAt(): number | undefined;
    readonly shed: Readonly<Record<ShedReason, number>>;
    readonly receiveWindow: { readonly bytes: number; readonly sent: number; readonly reported: number } | undefined;
  };
}

/** What the dashboard reads of a channel. */
export interface DashboardChannel {
  readonly name: string;
  /** Publications this node received for it; its growth is the publish rate. */
  readonly published: number;
  readonly subscribers: { readonly size: number };
  readonly queuePolicy: { readonly policy: string };
}

/** The gateway's live state, read (never copied) once per snapshot. */
export interface DashboardSource extends NodeState {
  readonly transport: string;
  connections(): Iterable<DashboardConnection>;
  channels(): Iterable<DashboardChannel>;
  /** Members of a presence channel (docs/presence.md), undefined when the channel has no presence. */
  readonly occupancy?: (channel: string) => number | undefined;
  /** The application's backend: hooks and webhooks (docs/hooks.md); absent in tests that have none. */
  readonly backend?: DashboardBackend;
}

const RATE_KEYS = [
  'messagesIn',
  'messagesOut',
  'bytesIn',
  'bytesOut',
  'publications',
  'dropped',
  'conflated',
  'expired',
  'slowConsumerDisconnects',
  'rateLimited',
  'rateLimitDisconnects',
  'backpressureEvents',
  'windowWaits',
] as const;
export type RateKey = (typeof RATE_KEYS)[number];

export interface SlowConsumerRow {
  readonly id: string;
  readonly ip: string;
  readonly queuedBytes: number;
  readonly queuedMessages: number;
  /** Share of the tighter hard queue limit in use, 0..1. */
  readonly utilisation: number;
  /** Age of the oldest queued message, ms. */
  readonly oldestAgeMs: number;
  /** Messages its channels' policies shed so far, by reason. */
  readonly shed: Readonly<Record<ShedReason, number>>;
  /** Its client's receive window (docs/protocol.md, `window`), if it asked for one: the size, and the bytes written beyond its latest report. */
  readonly window: { readonly bytes: number; readonly unreported: number } | null;
}

export interface PublisherRow {
  readonly id: string;
  readonly ip: string;
  readonly rateLimited: number;
  readonly messagesIn: number;
}

export interface ChannelRow {
  readonly name: string;
  readonly policy: string;
  readonly subscribers: number;
  /** Publications per second over the last interval. */
  readonly perSecond: number;
  /** Publications this node received for the channel. */
  readonly published: number;
  /** Members, for a channel with presence (cluster-wide on Redis); null without. */
  readonly members: number | null;
}

export interface Snapshot {
  /** Wall-clock time of the snapshot (ms since the epoch). */
  readonly at: number;
  /** Time covered by `rates`. */
  readonly intervalMs: number;
  readonly transport: string;
  readonly connections: number;
  readonly channels: number;
  /** Counter totals since the gateway started. */
  readonly totals: Readonly<Record<RateKey, number>>;
  /** Counter growth per second over the last interval. */
  readonly rates: Readonly<Record<RateKey, number>>;
  readonly queues: {
    /** Connections by outbound queue utilisation: [empty, (0,10%], (10,20%], …, (90,100%]]. */
    readonly histogram: readonly number[];
    readonly queuedBytes: number;
  };
  readonly slowConsumers: readonly SlowConsumerRow[];
  readonly publishers: readonly PublisherRow[];
  /** Hottest channels: by deliveries per second (publish rate × subscribers), then subscribers. */
  readonly hotChannels: readonly ChannelRow[];
  readonly warnings: readonly string[];
  /** The memory budget: each pool's bytes, the total, the limit (0: not enforced) and the pressure. */
  readonly memory?: { readonly limit: number; readonly total: number; readonly pressure: string; readonly pools: ReadonlyArray<{ readonly pool: string; readonly bytes: number }> };
  /** The application's backend, when a hook or webhooks are configured: per hook calls, failures and breaker; per webhook target queued, delivered, retried, dropped. */
  readonly backend?: BackendSnapshot;
}

/** Rows per table. */
export const TABLE_ROWS = 10;
const HISTOGRAM_BUCKETS = 10;

/**
 * Builds dashboard snapshots from the same counters /metrics reads. Rates are the growth of those
 * counters between two builds, so one builder serves all viewers and is built once per interval.
 */
export class SnapshotBuilder {
  private readonly window: CounterWindow<RateKey>;
  /** Each channel's `published` at the previous build; weak, so forgotten channels need no cleanup. */
  private published = new WeakMap<DashboardChannel, number>();
  private readonly backend: BackendPanel | undefined;

  constructor(
    private readonly source: DashboardSource,
    private readonly health: HealthAssessor,
    private readonly clock: Clock,
    private readonly wallClock: () => number = Date.now,
  ) {
    this.window = new CounterWindow(source, RATE_KEYS, clock);
    this.backend = source.backend && new BackendPanel(source.backend);
  }

  /** Starts a fresh interval: the next build reports rates from now on. */
  reset(): void {
    this.window.reset();
    this.health.assess();
    this.published = new WeakMap();
    for (const ch of this.source.channels()) this.published.set(ch, ch.published);
    this.backend?.reset();
  }

  build(): Snapshot {
    const now = this.clock();
    const { totals, delta, elapsedMs: windowMs } = this.window.next();
    const elapsedMs = Math.max(1, windowMs);
    const perSecond = 1000 / elapsedMs;
    const rates = {} as Record<RateKey, number>;
    for (const k of RATE_KEYS) rates[k] = round(delta[k] * perSecond);

    const histogram = new Array<number>(HISTOGRAM_BUCKETS + 1).fill(0);
    let connections = 0;
    let queuedBytes = 0;
    const slow = new TopK<SlowConsumerRow>(TABLE_ROWS);
    const publishers = new TopK<PublisherRow>(TABLE_ROWS);
    for (const c of this.source.connections()) {
      connections++;
      const w = c.writer;
      queuedBytes += w.queuedBytes;
      const u = w.utilisation;
      histogram[u <= 0 ? 0 : Math.min(HISTOGRAM_BUCKETS, Math.ceil(u * HISTOGRAM_BUCKETS))]!++;
      if (slow.accepts(w.queuedBytes)) {
        const oldest = w.oldestQueuedAt();
        slow.add(w.queuedBytes, {
          id: c.id,
          ip: c.socket.remoteAddress,
          queuedBytes: w.queuedBytes,
          queuedMessages: w.queuedMessages,
          utilisation: round(u),
          oldestAgeMs: oldest === undefined ? 0 : Math.round(now - oldest),
          shed: { ...w.shed },
          window: windowOf(w.receiveWindow),
        });
      }
      if (publishers.accepts(c.rateLimited)) publishers.add(c.rateLimited, { id: c.id, ip: c.socket.remoteAddress, rateLimited: c.rateLimited, messagesIn: c.messagesIn });
    }

    const hot = new TopK<ChannelRow>(TABLE_ROWS);
    const last = this.published;
    for (const ch of this.source.channels()) {
      const published = ch.published;
      const previous = last.get(ch);
      const rate = (published - (previous ?? 0)) * perSecond;
      if (previous !== published) last.set(ch, published);
      const subscribers = ch.subscribers.size;
      // Deliveries per second rank first; subscribers break ties (and rank channels that are quiet right now).
      const score = rate * Math.max(1, subscribers) + subscribers / 1e6;
      if (hot.accepts(score)) hot.add(score, { name: ch.name, policy: ch.queuePolicy.policy, subscribers, perSecond: round(rate), published, members: this.source.occupancy?.(ch.name) ?? null });
    }

    const backend = this.backend?.build(perSecond);
    return {
      at: this.wallClock(),
      intervalMs: Math.round(elapsedMs),
      transport: this.source.transport,
      connections,
      channels: this.source.channelCount(),
      totals,
      rates,
      queues: { histogram, queuedBytes },
      slowConsumers: slow.toArray(),
      publishers: publishers.toArray(),
      hotChannels: hot.toArray(),
      warnings: [...this.health.assess().warnings, ...(backend?.warnings ?? [])],
      ...(this.source.memory === undefined ? {} : { memory: memoryOf(this.source.memory.budget) }),
      ...(backend?.rows === undefined ? {} : { backend: backend.rows }),
    };
  }
}

function memoryOf(budget: MemoryBudget): NonNullable<Snapshot['memory']> {
  return { limit: budget.limit, total: budget.total, pressure: budget.pressure, pools: Object.values(budget.pools).map((p) => ({ pool: p.name, bytes: p.bytes })) };
}

const round = (n: number): number => Math.round(n * 100) / 100;

function windowOf(w: { readonly bytes: number; readonly sent: number; readonly reported: number } | undefined): SlowConsumerRow['window'] {
  return w === undefined ? null : { bytes: w.bytes, unreported: w.sent - w.reported };
}
