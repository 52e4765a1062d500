import type { AdmittedClient } from '../auth/identity.js';
import { describeIdentity } from '../auth/identity.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { QueueView } from '../observability/node-counters.js';
import type { Stats } from '../observability/stats.js';
import { CLOSE } from '../protocol/close-codes.js';
import { encodeHello } from '../protocol/frames.js';
import type { SocketHandler, TransportSocket } from '../net/socket.js';
import type { Clock } from '../util/clock.js';
import type { MemoryPool } from '../util/memory-budget.js';
import { Connection } from './connection.js';
import type { ConnectionContext } from './connection-context.js';
import { within } from '../util/within.js';

/** What one open connection costs beyond its queue: socket, parser, buffers, objects (docs/benchmarks.md measures about 10 KB idle with ws, 5 KB with uws; rounded up). */
export const CONNECTION_BYTES = 16 * 1024;

const refused: SocketHandler = { onMessage() {}, onDrain() {}, onPong() {}, onPing() {}, onClose() {} };

export interface ConnectionsOptions {
  readonly config: Config;
  readonly stats: Stats;
  readonly log: Logger;
  readonly clock: Clock;
  /** The budget's `connections` pool: {@link CONNECTION_BYTES} per open connection. */
  readonly pool: MemoryPool;
  /** Told when a connection opens or closes, with the peer's address (per-IP admission). */
  readonly opened: (ip: string) => void;
  readonly released: (ip: string) => void;
}

/**
 * Every open connection of a node: accepting one (capacity check, `hello`), forgetting it when it
 * closes, the periodic sweep over all of them (heartbeats, idle timeouts, expired credentials, soft
 * limits) that replaces per-connection timers, and draining them at shutdown.
 */
export class Connections {
  private readonly open = new Set<Connection>();
  private nextId = 0;
  private allClosed: (() => void) | undefined;

  constructor(private readonly options: ConnectionsOptions) {}

  get size(): number {
    return this.open.size;
  }

  values(): IterableIterator<Connection> {
    return this.open.values();
  }

  /** Makes a connection of an accepted socket and greets it; over `limits.maxConnections` it is closed 4102 (at_capacity). */
  accept(socket: TransportSocket, client: AdmittedClient, ctx: ConnectionContext): SocketHandler {
    const { config, stats, log } = this.options;
    if (this.open.size >= config.limits.maxConnections) {
      stats.connectionsRejected++;
      stats.countClose(CLOSE.at_capacity.code);
      socket.close(CLOSE.at_capacity.code, CLOSE.at_capacity.reason);
      return refused;
    }
    const conn = new Connection(`c${(++this.nextId).toString(36)}`, socket, ctx, client);
    this.options.pool.add(CONNECTION_BYTES);
    this.options.opened(client.ip);
    this.open.add(conn);
    stats.connectionsOpened++;
    conn.writer.sendControl(
      encodeHello({
        conn: conn.id,
        limits: {
          maxPayloadBytes: config.limits.maxPayloadBytes,
          maxSubscriptions: config.limits.maxSubscriptionsPerConnection,
          messagesPerSecond: config.inbound.messagesPerSecond,
          bytesPerSecond: config.inbound.bytesPerSecond,
          inboundMode: config.inbound.mode,
        },
        ...(client.identity.info === undefined ? {} : { info: client.identity.info }),
      }),
    );
    log.info({ conn: conn.id, ip: client.ip, who: describeIdentity(client.identity) }, 'connection opened');
    return conn;
  }

  /** Forgets a closed connection (its `onClosed`). */
  closed(conn: Connection): void {
    this.open.delete(conn);
    this.options.pool.sub(CONNECTION_BYTES);
    this.options.released(conn.ip);
    if (this.open.size === 0) this.allClosed?.();
  }

  /** One heartbeat interval's pass: cut overdue closes, expire credentials, time out idle peers, catch soft-limit breaches, ping the rest. */
  sweep(): void {
    const { config, clock, log } = this.options;
    const now = clock();
    const { idleTimeoutMs } = config.heartbeat;
    const expiredBefore = now - config.auth.clockToleranceSec * 1000;
    for (const conn of this.open) {
      if (conn.isClosing) {
        // A peer that does not read never completes the close handshake: cut it at the next sweep.
        if (conn.closeOverdue()) conn.socket.terminate();
        continue;
      }
      if (conn.auth.expireIfBefore(expiredBefore)) continue;
      if (now - conn.lastSeen > idleTimeoutMs) {
        log.info({ conn: conn.id, ip: conn.socket.remoteAddress }, 'idle timeout');
        conn.close('idle_timeout');
        conn.socket.terminate();
      } else if (conn.writer.softLimitExceeded(now)) {
        conn.slowConsumer();
      } else {
        conn.socket.ping();
      }
    }
  }

  /**
   * Lets every connection flush what it has queued and close with 4200; after `drainTimeoutMs` closes
   * the rest, and a second later cuts what is still open.
   */
  async drain(drainTimeoutMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => {
      this.allClosed = resolve;
      if (this.open.size === 0) resolve();
    });
    for (const conn of this.open) conn.closeWhenDrained();
    if (await within(closed, drainTimeoutMs)) return;
    this.options.log.warn({ connections: this.open.size }, 'drain timeout: closing remaining connections');
    for (const conn of this.open) conn.close('shutting_down');
    if (!(await within(closed, 1000))) for (const conn of [...this.open]) conn.socket.terminate();
    await within(closed, 1000);
  }

  *queues(): IterableIterator<QueueView> {
    for (const c of this.open) yield { id: c.id, utilisation: c.writer.utilisation, queuedBytes: c.writer.queuedBytes };
  }

  /** Bytes waiting in every connection's outbound queue. */
  queuedBytes(): number {
    let total = 0;
    for (const c of this.open) total += c.writer.queuedBytes;
    return total;
  }
}
