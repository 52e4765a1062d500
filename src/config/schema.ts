import { z } from 'zod';
import { POLICIES } from '../protocol/policy.js';
import { HooksSchema, WebhooksSchema } from './hooks-schema.js';
import { AdmissionSchema, AuthSchema, HttpApiSchema } from './security-schema.js';

/**
 * The single source of truth for configuration: every key, its default and its bounds.
 * Documented key by key in README.md (a test keeps the two in step).
 */

const Policy = z.enum(POLICIES as [string, ...string[]]).transform((p) => p as (typeof POLICIES)[number]);

/** Shortest admin key accepted: long enough that it cannot be guessed online. */
export const MIN_ADMIN_KEY_LENGTH = 16;
/** A Redis seed or sentinel address. */
const SEED = /^[^\s:]+(?::[^\s:]+)*:\d{1,5}$/;

const ChannelSettings = z.strictObject({
  /** Slow-consumer policy for this channel's messages. */
  policy: Policy.default('disconnect'),
  /** Messages kept for resume; 0 disables history. */
  historySize: z.number().int().min(0).max(100_000).default(100),
  /**
   * History entries older than this are forgotten; also how long a channel without history keeps
   * its epoch and seq after its last activity. 0 = kept until pushed out by size (and the channel
   * until evicted at limits.maxChannels).
   */
  historyTtlMs: z.number().int().min(0).default(300_000),
  /** Bytes of history kept (oldest entries leave first); 0 = bounded by count and age only. */
  historyMaxBytes: z.number().int().min(0).default(1024 * 1024),
  /** Queued messages older than this are shed at the head of an outbound queue; 0 = never. */
  maxAgeMs: z.number().int().min(0).default(0),
  /** The channel keeps the latest publication of every key and serves it as a snapshot (docs/keyed.md); publications need a key. */
  keyed: z.boolean().default(false),
  /** Keys a keyed channel holds; a publication adding one more is refused (`key_limit`). 0 = no count bound. */
  maxKeys: z.number().int().min(0).default(10_000),
  /** Encoded bytes of a keyed channel's latest publications; past it a publication is refused (`key_limit`). 0 = no byte bound. */
  keyedMaxBytes: z.number().int().min(0).default(16 * 1024 * 1024),
  /** A key not published for this long leaves a keyed channel's state. 0 = never. */
  keyTtlMs: z.number().int().min(0).default(0),
  /** Most bytes of publications in one `snap` frame of a snapshot (one publication larger than this goes alone). */
  snapshotChunkBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(64 * 1024),
  /** The lowest `maxRate` a subscriber of a keyed channel gets (a lower ask is raised to it). */
  contractMinRate: z.number().positive().max(1000).default(1),
  /** The highest `maxRate` a subscriber of a keyed channel gets (a higher ask is lowered to it); 0 = no contracts on this channel. */
  contractMaxRate: z.number().min(0).max(1000).default(50),
  /** On a keyed channel: each publication is also encoded as a fossil delta against the key's previous value, for subscribers that ask (`sub` with `delta`, docs/keyed.md). */
  delta: z.boolean().default(false),
  /** Subscribers are members: presence and occupancy requests and events (docs/presence.md). */
  presence: z.boolean().default(false),
  /** Members a presence channel admits; past it a `sub` of a new identity gets `member_limit`. 0 = no limit. */
  maxMembers: z.number().int().min(0).default(10_000),
  /** Joins and leaves are coalesced and sent once per this interval; 0 = a frame per change, at once. */
  presenceIntervalMs: z.number().int().min(0).max(60_000).default(1_000),
  /** Bytes of a member's `info` (JSON); 0 = no info accepted. */
  maxInfoBytes: z.number().int().min(0).max(16 * 1024).default(256),
});

const ChannelRule = ChannelSettings.partial().extend({
  /** Channel name pattern; `*` matches any run of characters. First matching rule wins. */
  pattern: z.string().min(1).max(256),
});

export const ConfigSchema = z
  .strictObject({
    host: z.string().default('0.0.0.0'),
    port: z.number().int().min(0).max(65535).default(8080),
    /** The WebSocket library; what each can carry out is checked when it is created (transport/select.ts). */
    transport: z.enum(['ws', 'uws']).default('ws'),
    limits: z
      .strictObject({
        maxConnections: z.number().int().min(1).default(10_000),
        maxPayloadBytes: z.number().int().min(64).max(16 * 1024 * 1024).default(64 * 1024),
        maxSubscriptionsPerConnection: z.number().int().min(1).default(100),
        maxChannels: z.number().int().min(1).default(100_000),
        /** Publishes of one connection awaiting the broker's answer (Redis); at it the connection stops taking requests until one is answered. */
        maxPendingPublishes: z.number().int().min(1).default(64),
        /**
         * Bytes of requests a connection holds while it takes none (uWS, which cannot stop reading);
         * past it: `too_many_requests`, or, when only `inboundMsPerTurn` stops it, the held requests
         * are handled at once.
         */
        maxHeldRequestBytes: z.number().int().min(0).default(1024 * 1024),
        /** `sub` requests the whole process takes per event-loop turn; the rest wait, in order, for the next turns (0: no bound). */
        subscribesPerTurn: z.number().int().min(0).default(25),
        /**
         * Frames (requests and WebSocket pings) one connection has handled per event-loop turn; past
         * it the rest wait, in order, with reading stopped, and flooding connections take turns
         * (0: no bound). Applies where reading can stop (`ws`).
         */
        framesPerTurn: z.number().int().min(0).default(64),
        /**
         * Milliseconds all connections together spend handling frames per event-loop turn, on top of
         * each one's `framesPerTurn`; past it the rest wait, in order, first in line next turn (0: no
         * bound). Both transports (`uws`, which cannot stop reading, holds the rest: `maxHeldRequestBytes`).
         */
        inboundMsPerTurn: z.number().min(0).default(5),
        /**
         * Milliseconds per event-loop turn the gateway spends releasing closed connections (their
         * subscriptions, queues, presence and admission slots); past it the rest are released on
         * later turns, in the order they closed, each keeping its admission slot until then (0: no bound).
         */
        teardownMsPerTurn: z.number().min(0).default(1),
        /** WebSocket upgrades the whole process decides and completes per event-loop turn; the rest wait, in order (0: no bound). */
        upgradesPerTurn: z.number().int().min(0).default(50),
        /** Milliseconds per event-loop turn the whole process spends deciding and completing upgrades, within `upgradesPerTurn`; the rest wait, in order (0: no bound). */
        upgradeMsPerTurn: z.number().min(0).default(5),
        /** Plain HTTP requests in progress at once (all paths); beyond it: 503 with Retry-After. */
        maxHttpRequests: z.number().int().min(1).default(256),
        /**
         * HTTP body bytes all requests together read per event-loop turn; past it a request stops
         * reading and reads on, in order, on a later turn (0: no bound). Both transports.
         */
        httpBodyBytesPerTurn: z.number().int().min(0).default(512 * 1024),
        /** Longest time to receive one HTTP request, head and body (slowloris); then the connection is closed. */
        httpRequestTimeoutMs: z.number().int().min(100).max(300_000).default(10_000),
        /**
         * Bytes the gateway's accounted pools (queues, replays, history, held publications,
         * connections, HTTP bodies, per-IP tables, dashboard) may hold; 0 = measured, never enforced.
         * See docs/operations.md, "The memory budget".
         */
        memoryBudgetBytes: z.number().int().min(0).default(256 * 1024 * 1024),
      })
      .prefault({}),
    inbound: z
      .strictObject({
        mode: z.enum(['reject', 'pause']).default('reject'),
        messagesPerSecond: z.number().min(0).default(1_000),
        messagesBurst: z.number().min(1).default(250),
        bytesPerSecond: z.number().min(0).default(1024 * 1024),
        bytesBurst: z.number().min(1).default(2 * 1024 * 1024),
        rateLimitStrikes: z.number().int().min(1).default(20),
        invalidFrameStrikes: z.number().int().min(1).default(10),
        strikeWindowMs: z.number().int().min(1).default(10_000),
      })
      .prefault({}),
    outbound: z
      .strictObject({
        highWaterMarkBytes: z.number().int().min(16 * 1024).default(64 * 1024),
        maxQueueBytes: z.number().int().min(1024).default(1024 * 1024),
        maxQueueMessages: z.number().int().min(1).max(1_000_000).default(4096),
        softQueueBytes: z.number().int().min(0).default(512 * 1024),
        softLimitMs: z.number().int().min(0).default(30_000),
        controlQueueMessages: z.number().int().min(8).default(256),
        replayBytesPerTurn: z.number().int().min(0).default(256 * 1024),
        batchMaxBytes: z.number().int().min(0).default(64 * 1024),
        /** uws: a channel whose subscribers are all caught up publishes through uWS's own fan-out (one call for all of them); docs/benchmarks.md, "Tenth pass (uws topics)". */
        uwsTopicFanout: z.boolean().default(true),
        /**
         * uws: the cork buffer of the uWebSockets.js build in use (uWebSockets' LoopData::CORK_BUFFER_SIZE, 16 KiB in every
         * published build): the adapter writes a socket's frames in runs of at most this, one system call each. Only for a
         * build made with a larger one (docs/transports.md, "A uWebSockets.js with a larger cork buffer").
         */
        uwsCorkBytes: z.number().int().min(16 * 1024).max(16 * 1024 * 1024).default(16 * 1024),
        /** The smallest receive window a client may ask for (docs/protocol.md, `window`): each half window read costs a `recv` frame. */
        minReceiveWindowBytes: z.number().int().min(1024).default(16 * 1024),
        /** The largest receive window a client may ask for. */
        maxReceiveWindowBytes: z.number().int().min(1024).default(16 * 1024 * 1024),
      })
      .prefault({}),
    channelDefaults: ChannelSettings.prefault({}),
    channels: z.array(ChannelRule).max(1000).default([]),
    heartbeat: z
      .strictObject({
        intervalMs: z.number().int().min(100).default(15_000),
        idleTimeoutMs: z.number().int().min(200).default(45_000),
      })
      .prefault({}),
    shutdown: z.strictObject({ drainTimeoutMs: z.number().int().min(0).default(5_000) }).prefault({}),
    compression: z.boolean().default(false),
    dashboard: z
      .strictObject({
        /** Serves the live flow-control dashboard at /dashboard (needs `adminKey`). */
        enabled: z.boolean().default(false),
        /** Secret for the dashboard page and feed (`Authorization: Bearer <key>` or `?key=`). */
        adminKey: z.string().default(''),
        /** Dashboard viewers (open event streams) at once; more are refused with 503. */
        maxViewers: z.number().int().min(1).max(1000).default(10),
      })
      .prefault({}),
    auth: AuthSchema,
    admission: AdmissionSchema,
    httpApi: HttpApiSchema,
    hooks: HooksSchema,
    webhooks: WebhooksSchema,
    broker: z
      .strictObject({
        /** `memory`: one node, state in process. `redis`: many nodes sharing channels through Redis. */
        type: z.enum(['memory', 'redis']).default('memory'),
        /** Live publications held per joining subscriber (and per channel under repair) during a history read. */
        maxHeldPublications: z.number().int().min(1).default(10_000),
        /** How long a channel remembers a publication's `pid` (a retry with it is not published again); 0 = not at all. */
        publicationIdTtlMs: z.number().int().min(0).default(300_000),
        redis: z
          .strictObject({
            url: z.string().min(1).default('redis://127.0.0.1:6379'),
            /** Prefix of every key and pub/sub channel Sluice uses, so several clusters can share a Redis. */
            keyPrefix: z.string().max(64).default('sluice:'),
            connectTimeoutMs: z.number().int().min(1).default(2_000),
            /** A command unanswered this long fails (publish → `unavailable`). */
            commandTimeoutMs: z.number().int().min(1).default(1_000),
            /** Reconnect backoff: doubles from the minimum up to the maximum. */
            reconnectMinMs: z.number().int().min(1).default(100),
            reconnectMaxMs: z.number().int().min(1).default(5_000),
            /** A channel's seq and epoch are forgotten this long after its last publish (every key Sluice writes expires). */
            streamTtlMs: z.number().int().min(1).default(86_400_000),
            /** Most publications of one channel in one script call; a loop turn's calls go in one pipeline. 1 = one call, sent at once, per publication. */
            maxPublishBatch: z.number().int().min(1).max(1000).default(256),
            /** Keys per read of a keyed channel's state for a snapshot (HSCAN COUNT), so no reply holds it whole; 0 = one reply. */
            snapshotScanCount: z.number().int().min(0).max(100_000).default(1_000),
            /** Bytes of history entries per reply of a history read (at least one entry), so no reply holds a large history; 0 = one reply. */
            historyChunkBytes: z.number().int().min(0).max(64 * 1024 * 1024).default(256 * 1024),
            /** Redis Cluster seed nodes (`host:port`); set: cluster mode (sharded pub/sub), `url` gives only scheme and credentials. */
            cluster: z.array(z.string().regex(SEED, 'must be host:port')).max(100).default([]),
            /** A Sentinel-managed master: its name and the sentinels (`host:port`); `url` gives only scheme and credentials. */
            sentinel: z
              .strictObject({
                name: z.string().default(''),
                sentinels: z.array(z.string().regex(SEED, 'must be host:port')).max(100).default([]),
              })
              .prefault({}),
            /** PEM files for `rediss://`: the CA to trust (else the system's), and a client certificate and key (mutual TLS). */
            tls: z
              .strictObject({
                ca: z.string().default(''),
                cert: z.string().default(''),
                key: z.string().default(''),
              })
              .prefault({}),
          })
          .prefault({}),
      })
      .prefault({}),
    presence: z
      .strictObject({
        /** Most members per `presence` reply (a request's `limit` is capped at it). */
        pageSize: z.number().int().min(1).max(10_000).default(100),
        /** Most joins + leaves in one event frame; the rest follow in the next interval. */
        maxEventsPerFrame: z.number().int().min(1).max(100_000).default(1_000),
        /** Redis: a node's members expire this long after its last heartbeat (sent every third of it). */
        nodeTtlMs: z.number().int().min(1_000).default(15_000),
      })
      .prefault({}),
    log: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        healthSummaryIntervalMs: z.number().int().min(0).default(30_000),
      })
      .prefault({}),
  })
  .superRefine((c, ctx) => {
    if (c.inbound.bytesBurst < c.limits.maxPayloadBytes && c.inbound.bytesPerSecond > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['inbound', 'bytesBurst'],
        message: `must be at least limits.maxPayloadBytes (${c.limits.maxPayloadBytes}), or a maximal frame could never be admitted`,
      });
    }
    if (c.httpApi.publicationsPerSecond > 0 && c.httpApi.maxBatch > c.httpApi.publicationsBurst) {
      ctx.addIssue({ code: 'custom', path: ['httpApi', 'maxBatch'], message: 'must not exceed httpApi.publicationsBurst, or a full batch could never be admitted' });
    }
    if (c.heartbeat.idleTimeoutMs <= c.heartbeat.intervalMs) {
      ctx.addIssue({ code: 'custom', path: ['heartbeat', 'idleTimeoutMs'], message: 'must be greater than heartbeat.intervalMs' });
    }
    if (c.outbound.softQueueBytes >= c.outbound.maxQueueBytes) {
      ctx.addIssue({ code: 'custom', path: ['outbound', 'softQueueBytes'], message: 'must be below outbound.maxQueueBytes (0 disables it)' });
    }
    if (c.outbound.maxReceiveWindowBytes < c.outbound.minReceiveWindowBytes) {
      ctx.addIssue({ code: 'custom', path: ['outbound', 'maxReceiveWindowBytes'], message: 'must be at least outbound.minReceiveWindowBytes' });
    }
    if (c.dashboard.enabled && c.dashboard.adminKey.length < MIN_ADMIN_KEY_LENGTH) {
      ctx.addIssue({ code: 'custom', path: ['dashboard', 'adminKey'], message: `must be at least ${MIN_ADMIN_KEY_LENGTH} characters when the dashboard is enabled` });
    }
    if (c.broker.redis.reconnectMaxMs < c.broker.redis.reconnectMinMs) {
      ctx.addIssue({ code: 'custom', path: ['broker', 'redis', 'reconnectMaxMs'], message: 'must be at least broker.redis.reconnectMinMs' });
    }
    const redis = c.broker.redis;
    if (redis.cluster.length > 0 && redis.sentinel.name !== '') {
      ctx.addIssue({ code: 'custom', path: ['broker', 'redis', 'sentinel', 'name'], message: 'a Redis Cluster (broker.redis.cluster) has no Sentinel: set one of the two' });
    }
    if (redis.sentinel.name !== '' && redis.sentinel.sentinels.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['broker', 'redis', 'sentinel', 'sentinels'], message: 'must name at least one sentinel (host:port) when broker.redis.sentinel.name is set' });
    }
    const tlsSet = redis.tls.ca !== '' || redis.tls.cert !== '' || redis.tls.key !== '';
    if (tlsSet && !/^rediss:/i.test(redis.url)) {
      ctx.addIssue({ code: 'custom', path: ['broker', 'redis', 'tls'], message: 'TLS files apply to a rediss:// broker.redis.url only' });
    }
    if ((redis.tls.cert === '') !== (redis.tls.key === '')) {
      ctx.addIssue({ code: 'custom', path: ['broker', 'redis', 'tls'], message: 'a client certificate needs its key (tls.cert and tls.key together)' });
    }
  });

export type ConfigInput = z.input<typeof ConfigSchema>;
export type Config = Readonly<z.output<typeof ConfigSchema>>;
export type ChannelSettings = z.output<typeof ChannelSettings>;
export type ChannelRule = z.output<typeof ChannelRule>;
