import type { Registry } from 'prom-client';
import { Admission } from './auth/admission.js';
import { KeyCheck } from './auth/credentials.js';
import { JwtVerifier } from './auth/jwt-verifier.js';
import { Permissions } from './auth/permissions.js';
import type { AdmittedClient } from './auth/identity.js';
import { UpgradeGate, upgradeSettings } from './auth/upgrade-gate.js';
import type { Broker } from './broker/broker.js';
import { createBroker } from './broker/select.js';
import { ChannelRules } from './config/channel-rules.js';
import type { Config } from './config/schema.js';
import { Dashboard } from './dashboard/dashboard.js';
import { SnapshotBuilder } from './dashboard/snapshot.js';
import { PublishApi, publishApiSettings } from './http/publish-api.js';
import { handleHttp, type RouteState } from './http/routes.js';
import { Hooks } from './hooks/hooks.js';
import { Webhooks } from './hooks/webhooks.js';
import { Hub } from './hub/hub.js';
import { HealthAssessor, HealthSummary } from './observability/health-summary.js';
import { createLogger, type Logger } from './observability/logger.js';
import { HookMetrics } from './observability/hook-metrics.js';
import { createMetrics } from './observability/metrics.js';
import type { NodeState } from './observability/node-counters.js';
import { Stats } from './observability/stats.js';
import { ChannelHookCalls } from './session/channel-hooks.js';
import type { Connection } from './session/connection.js';
import type { ConnectionContext } from './session/connection-context.js';
import { Connections } from './session/connections.js';
import { TurnAllowance } from './session/turn-allowance.js';
import { Teardowns } from './session/teardowns.js';
import { UpgradeTurns } from './session/upgrade-turns.js';
import { ResumeScheduler } from './session/resume-scheduler.js';
import { Presence } from './presence/presence.js';
import { presenceTopology, RedisPresence } from './presence/redis-presence.js';
import { SessionPresence } from './session/presence-requests.js';
import { sessionSettings } from './session/settings.js';
import { WriteBatcher } from './session/write-batcher.js';
import { createTransport } from './transport/select.js';
import type { BodyAllowance, TransportServer } from './net/server.js';
import type { SocketHandler, TransportSocket } from './net/socket.js';
import { systemClock, type Clock } from './util/clock.js';
import { TurnClock } from './util/turn-clock.js';
import { WorkMeter } from './util/work-meter.js';
import { MemoryBudget } from './util/memory-budget.js';
import { MemoryRelief } from './session/memory-relief.js';
import { DeliveryContracts } from './session/key-pacer.js';
import { TimerWheel } from './flow/timer-wheel.js';
import type { HttpRequest, HttpResponse } from './net/http.js';

export interface GatewayOptions {
  readonly config: Config;
  readonly log?: Logger;
  readonly clock?: Clock;
  /** A transport to use instead of the configured one (tests). */
  readonly transport?: TransportServer;
  /** A broker to use instead of the configured one (tests). */
  readonly broker?: Broker;
}

/**
 * One Sluice node: a transport, the hub, every connection, and the housekeeping that runs on a
 * single timer (heartbeats, idle and soft-limit checks, history expiry) rather than per connection.
 */
export class Gateway {
  readonly stats = new Stats();
  readonly hub: Hub;
  readonly broker: Broker;
  /** Members, counts and their events on presence channels (docs/presence.md). */
  readonly presence: Presence;
  readonly registry: Registry;
  readonly log: Logger;
  /** The application's backend: hooks (docs/hooks.md). */
  readonly hooks: Hooks;
  /** Events for the application's backend, when `webhooks.url` is set. */
  readonly webhooks: Webhooks | undefined;
  private readonly hookMetrics: HookMetrics;
  /** Each channel's shed count at the last webhook report. */
  private readonly shedReported = new WeakMap<object, number>();
  port = 0;
  private readonly connections: Connections;
  private readonly clock: Clock;
  private readonly ctx: ConnectionContext;
  private readonly resumer: ResumeScheduler;
  private readonly health: HealthSummary;
  /** The live flow-control dashboard, when enabled. */
  readonly dashboard: Dashboard | undefined;
  private readonly admission: Admission;
  private readonly gate: UpgradeGate;
  private readonly upgrades: UpgradeTurns;
  private readonly routes: RouteState;
  private readonly relief: MemoryRelief;
  private timers: NodeJS.Timeout[] = [];
  private draining = false;
  private started = false;
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly config: Config,
    private readonly transport: TransportServer,
    broker: Broker,
    options: GatewayOptions,
    verifier: JwtVerifier | undefined,
    /** The process's memory budget (created before the broker, which charges history to it). */
    readonly budget: MemoryBudget,
  ) {
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? createLogger(config.log.level);
    this.broker = broker;
    const { stats, log, clock } = this;
    const draining = (): boolean => this.draining;
    const hookMetrics = (this.hookMetrics = new HookMetrics(() => [...this.hooks.clients()].map((c) => [c.name, c.breakerGauge] as const)));
    this.hooks = new Hooks(config.hooks, { clock, metrics: hookMetrics, log });
    const webhooks = (this.webhooks = config.webhooks.url === '' ? undefined : new Webhooks(config.webhooks, { clock, metrics: hookMetrics, log }));
    // The connect hook establishes identities as a token would: permissions apply.
    const permissions = new Permissions(config.auth, verifier !== undefined || this.hooks.connect !== undefined);
    const underPressure = (): boolean => budget.refusing;
    const admission = (this.admission = new Admission(config.admission, config.limits.maxConnections, clock, budget.pools.ipTable));
    this.connections = new Connections({ config, stats, log, clock, pool: budget.pools.connections, opened: (ip) => admission.opened(ip), released: (ip) => admission.release(ip) });
    const connectHook = this.hooks.connect;
    this.gate = new UpgradeGate({ settings: upgradeSettings(config), admission: this.admission, verifier, permissions, stats, log, clock, draining, connectHook, underPressure });
    this.upgrades = new UpgradeTurns(new TurnAllowance(config.limits.upgradesPerTurn, setImmediate, meterOf(config.limits.upgradeMsPerTurn, clock)), (request) => this.gate.decide(request), config.limits.maxConnections, config.admission.retryAfterSec, stats);
    const rules = new ChannelRules(config);
    const hub = (this.hub = new Hub({
      rules,
      maxChannels: config.limits.maxChannels,
      prepare: (payload) => transport.prepare(payload),
      clock,
      broker,
      maxJoinBuffer: config.broker.maxHeldPublications,
      log,
      occupancy: webhooks && ((ch, occupied) => webhooks.occupancy(ch, occupied)),
      budget,
      topics: transport.topics,
      topicDelivered: (messages, bytes) => {
        stats.messagesOut += messages;
        stats.bytesOut += bytes;
      },
    }));
    this.relief = new MemoryRelief(budget, hub, () => this.connections.values(), log);
    budget.onRelief(() => this.relief.run());
    this.resumer = new ResumeScheduler(clock);
    const onClosed = (conn: Connection, code: number, reason: string): void => this.onClosed(conn, code, reason);
    const readingPausable = transport.capabilities.pause;
    const hooks = { refreshHook: this.hooks.refresh, channelHooks: this.hooks.subscribe || this.hooks.publish ? new ChannelHookCalls(this.hooks, config.hooks.maxPendingPerChannel) : undefined };
    const { redis } = config.broker;
    const replication = config.broker.type === 'redis' ? new RedisPresence({ topology: presenceTopology(redis), keyPrefix: redis.keyPrefix, nodeTtlMs: config.presence.nodeTtlMs, clock, log }) : undefined;
    const presenceTimes = { tickMs: presenceTick(config), lingerMs: config.presence.nodeTtlMs };
    this.presence = new Presence({ settings: config.presence, rules, clock, prepare: (payload) => transport.prepare(payload), ...presenceTimes, replication });
    this.ctx = { settings: sessionSettings(config), hub, presence: new SessionPresence(this.presence, replication === undefined ? '' : `@${replication.node}`), stats, clock, log, batcher: new WriteBatcher(), pacer: new TurnAllowance(config.outbound.replayBytesPerTurn), subscribes: new TurnAllowance(config.limits.subscribesPerTurn), frames: new TurnAllowance(0, setImmediate, new WorkMeter(config.limits.inboundMsPerTurn, clock)), teardowns: new Teardowns(new TurnAllowance(0, setImmediate, meterOf(config.limits.teardownMsPerTurn, clock)), config.limits.maxConnections), contracts: deliveryContracts(clock, budget), turnClock: new TurnClock(clock).now, resumer: this.resumer, permissions, verifier, draining, readingPausable, messagesStable: transport.capabilities.stableMessages, onClosed, budget, ...hooks };
    const node = this.nodeState();
    this.registry = createMetrics(node);
    hookMetrics.registerIn(this.registry);
    this.health = new HealthSummary(node, log, clock);
    if (config.dashboard.enabled) this.dashboard = this.createDashboard(node);
    const dashboard = this.dashboard;
    this.routes = {
      registry: this.registry,
      stats,
      maxRequests: config.limits.maxHttpRequests,
      ready: () => this.ready,
      dashboard: dashboard && ((request, path) => dashboard.handle(request, path)),
      publishApi: new PublishApi({ settings: publishApiSettings(config), hub, stats, clock, queuedBytes: () => this.connections.queuedBytes(), draining, underPressure }),
    };
  }

  /** The node's live state: the one view /metrics, the health summary and the dashboard read. */
  private nodeState(): NodeState {
    return {
      stats: this.stats,
      connectionCount: () => this.connections.size,
      channelCount: () => this.hub.channelCount,
      publications: () => this.hub.publications,
      topicPublications: () => this.hub.topicPublications,
      queues: () => this.connections.queues(),
      broker: { ready: () => this.broker.ready, repairs: () => this.hub.repairs, notices: () => this.hub.notices },
      memory: { budget: this.budget, historyEvictions: () => this.hub.historyEvictions, closed: () => this.relief.closed, shedQueues: () => this.relief.shedQueues },
    };
  }

  private createDashboard(node: NodeState): Dashboard {
    const { config, clock } = this;
    const backend = { hooks: () => this.hooks.clients(), webhooks: this.webhooks, totals: this.hookMetrics.totals };
    const source = { ...node, transport: this.transport.name, connections: () => this.connections.values(), channels: () => this.hub.all(), backend, occupancy: (ch: string) => (this.hub.get(ch)?.settings.presence === true ? this.presence.total(ch) : undefined) };
    const snapshots = new SnapshotBuilder(source, new HealthAssessor(node, clock), clock);
    return new Dashboard(config.dashboard, new KeyCheck([config.dashboard.adminKey], {}), snapshots, this.log, this.budget.pools.dashboard);
  }

  /** Creates a gateway and starts listening. */
  static async start(options: GatewayOptions): Promise<Gateway> {
    const { auth } = options.config;
    const verifier = auth.keys.length > 0 || auth.jwksUrl !== '' ? await JwtVerifier.create(auth, options.clock ?? systemClock) : undefined;
    let gateway: Gateway | undefined;
    const transport = options.transport ?? (await createTransport(options.config, bodyAllowance(options.config.limits.httpBodyBytesPerTurn, () => gateway?.stats)));
    const log = options.log ?? createLogger(options.config.log.level);
    const clock = options.clock ?? systemClock;
    const budget = new MemoryBudget(options.config.limits.memoryBudgetBytes, { now: clock, later: (fn, ms) => setTimeout(fn, ms).unref() });
    const broker = options.broker ?? (await createBroker(options.config, clock, log, budget.pools.history, budget.pools.keyed));
    gateway = new Gateway(options.config, transport, broker, { ...options, log, clock }, verifier, budget);
    broker.start(gateway.hub);
    await gateway.listen();
    return gateway;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Upgrades admitted but still being decided (token verification in flight). */
  get pendingUpgrades(): number {
    return this.admission.held - this.connections.size;
  }

  /** Serving: listening, not draining, and the broker connected (/readyz). */
  get ready(): boolean {
    return this.started && !this.draining && this.broker.ready;
  }

  /** Every open connection (read-only view for observability). */
  connectionList(): Connection[] {
    return [...this.connections.values()];
  }

  /**
   * Graceful shutdown: stop accepting, fail /readyz, let each connection flush what it has queued
   * and close it with 4200; after `shutdown.drainTimeoutMs` close the rest, then release everything.
   */
  shutdown(): Promise<void> {
    this.stopping ??= this.drainAndClose();
    return this.stopping;
  }

  private async listen(): Promise<void> {
    const { config } = this;
    this.port = await this.transport.listen({
      onUpgrade: (request) => this.upgrades.upgrade(request),
      onConnection: (socket, _request, context) => this.accept(socket, context as AdmittedClient),
      onHttp: (request) => this.http(request),
    });
    this.started = true;
    this.every(config.heartbeat.intervalMs, () => this.housekeeping());
    if (config.log.healthSummaryIntervalMs > 0) this.every(config.log.healthSummaryIntervalMs, () => this.health.report());
    const { shedIntervalMs } = config.webhooks;
    if (this.webhooks !== undefined && shedIntervalMs > 0) this.every(shedIntervalMs, () => this.reportShed(shedIntervalMs));
    this.log.info({ port: this.port, host: config.host, transport: this.transport.name, transportDetail: this.transport.detail }, 'sluice listening');
    if (config.auth.keys.length === 0 && config.auth.jwksUrl === '' && this.hooks.connect === undefined) {
      this.log.warn('auth is off: any client may connect, subscribe and publish anywhere (development default; see docs/security.md)');
    }
  }

  private accept(socket: TransportSocket, client: AdmittedClient): SocketHandler {
    return this.connections.accept(socket, client, this.ctx);
  }

  private onClosed(conn: Connection, code: number, reason: string): void {
    this.connections.closed(conn);
    this.webhooks?.emit({ type: 'connection.closed', conn: conn.id, ip: conn.ip, sub: conn.auth.identity.sub, code, reason });
  }

  /** One interval's shed counts per channel for the webhook receiver (one pass over the channels). */
  private reportShed(intervalMs: number): void {
    const counts: Array<[string, number]> = [];
    for (const channel of this.hub.all()) {
      const last = this.shedReported.get(channel) ?? 0;
      if (channel.shed === last) continue;
      counts.push([channel.name, channel.shed - last]);
      this.shedReported.set(channel, channel.shed);
    }
    this.webhooks?.shed(counts, intervalMs);
  }

  /** Heartbeats, idle timeouts, soft limits and history expiry, for all connections at once. */
  private housekeeping(): void {
    this.connections.sweep();
    this.hub.sweep();
    this.admission.prune();
    this.budget.check();
  }

  /** Serves a plain HTTP request; a body it reads counts in the budget's `http` pool until it is answered. */
  private http(request: HttpRequest): Promise<HttpResponse> {
    const pool = this.budget.pools.http;
    let charged = 0;
    const counted: HttpRequest = {
      ...request,
      readBody: () =>
        request.readBody().then((body) => {
          charged = body?.length ?? 0;
          pool.add(charged);
          return body;
        }),
    };
    return handleHttp(counted, this.routes).finally(() => pool.sub(charged));
  }

  private async drainAndClose(): Promise<void> {
    this.draining = true;
    this.dashboard?.close();
    this.log.info({ connections: this.connections.size }, 'shutting down: draining connections');
    await this.transport.stopAccepting();
    await this.connections.drain(this.config.shutdown.drainTimeoutMs);
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    this.resumer.stop();
    await this.presence.close();
    await this.transport.close();
    this.hooks.close();
    // The connections' closes and vacated channels are the last events: deliver them, bounded.
    await this.webhooks?.drain(this.config.webhooks.drainTimeoutMs);
    await this.broker.close();
    this.log.info(
      { messagesIn: this.stats.messagesIn, messagesOut: this.stats.messagesOut, publications: this.hub.publications },
      'sluice stopped',
    );
  }

  private every(ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms);
    timer.unref();
    this.timers.push(timer);
  }
}

/** The presence flush timer's period: the shortest positive batching interval any channel can have. */
function presenceTick(config: Config): number {
  const intervals = [config.channelDefaults, ...config.channels].map((r) => r.presenceIntervalMs ?? config.channelDefaults.presenceIntervalMs);
  return Math.max(10, Math.min(...intervals.filter((ms) => ms > 0), 1_000));
}

/** Contract pacers flush on one wheel of 10 ms ticks (a horizon of 2.55 s: the longest interval is 1 s). */
function deliveryContracts(clock: Clock, budget: MemoryBudget): DeliveryContracts {
  const every = (fn: () => void, ms: number): (() => void) => {
    const timer = setInterval(fn, ms);
    timer.unref();
    return () => clearInterval(timer);
  };
  return new DeliveryContracts(new TimerWheel(clock, 10, 256, every), clock, budget.pools.outbound);
}

/** The transport's allowance of HTTP body bytes per turn (`limits.httpBodyBytesPerTurn`); each request it stops is counted. */
function bodyAllowance(perTurn: number, stats: () => Stats | undefined): BodyAllowance {
  const turns = new TurnAllowance(perTurn);
  return {
    spent: (bytes) => turns.spent(bytes),
    mayGo(body) {
      if (turns.mayGo(body)) return true;
      const s = stats();
      if (s !== undefined) s.readPauses.http_body_bytes_per_turn++;
      return false;
    },
  };
}

/** A per-turn time bound's meter (`limits.teardownMsPerTurn`, `limits.upgradeMsPerTurn`); none at 0 (no bound). */
function meterOf(ms: number, clock: Clock): WorkMeter | undefined {
  return ms > 0 ? new WorkMeter(ms, clock) : undefined;
}
