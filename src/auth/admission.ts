import { isIP } from 'node:net';
import type { AdmissionConfig } from '../config/security-schema.js';
import { TokenBucket } from '../util/token-bucket.js';
import type { UpgradeRequest } from '../net/http.js';
import type { HttpRefusalName } from '../protocol/refusals.js';
import type { Clock } from '../util/clock.js';
import { globMatch } from '../util/glob.js';
import { unmeteredPool, type MemoryPool } from '../util/memory-budget.js';

/** What one tracked address costs: its map entry, key string and token bucket (rounded up). */
export const IP_ENTRY_BYTES = 256;

/** Why admission refused an upgrade (an entry of the HTTP refusal catalogue). */
export type AdmissionRefusal = Extract<HttpRefusalName, 'origin_not_allowed' | 'at_capacity' | 'too_many_addresses' | 'too_many_from_address' | 'connecting_too_fast'>;

interface IpEntry {
  /** Open connections plus upgrades being decided. */
  held: number;
  readonly bucket: TokenBucket | undefined;
}

/**
 * Decides, before any WebSocket exists, whether a client may open one more connection: allowed
 * origins, total capacity, connections per IP, and new connections per second per IP. A slot is
 * held from `admit` until `release`. Per-IP state lives in a map bounded by `maxTrackedIps`
 * (entries with nothing held and a full bucket are pruned), and only when a per-IP limit is set.
 */
export class Admission {
  private readonly ips = new Map<string, IpEntry>();
  private readonly perIp: boolean;
  private readonly origins: string[];
  private heldTotal = 0;
  private lastPrune = -Infinity;

  constructor(
    private readonly config: AdmissionConfig,
    private readonly maxConnections: number,
    private readonly clock: Clock,
    /** The memory budget's pool for this table (each tracked address costs `IP_ENTRY_BYTES`). */
    private readonly pool: MemoryPool = unmeteredPool('ipTable'),
  ) {
    this.perIp = config.maxConnectionsPerIp > 0 || config.connectRatePerIp > 0;
    this.origins = config.allowedOrigins.map((o) => o.toLowerCase());
  }

  get trackedIps(): number {
    return this.ips.size;
  }

  /** Slots held: open connections and upgrades being decided. */
  get held(): number {
    return this.heldTotal;
  }

  /** The client's IP: the socket's peer, or with trustProxy the entry `proxyHops` from the right of X-Forwarded-For. */
  clientIp(request: UpgradeRequest): string {
    if (this.config.trustProxy) {
      const header = request.headers['x-forwarded-for'];
      if (header !== undefined) {
        const entries = header.split(',');
        const candidate = entries[entries.length - this.config.proxyHops]?.trim();
        if (candidate !== undefined && isIP(candidate) !== 0) return candidate;
      }
    }
    return request.remoteAddress;
  }

  /**
   * True when the request came through a proxy (it carries X-Forwarded-For or Forwarded) but
   * `trustProxy` is off, so the per-IP limits count the proxy's address for all its clients.
   */
  proxyNotTrusted(request: UpgradeRequest): boolean {
    return !this.config.trustProxy && (request.headers['x-forwarded-for'] !== undefined || request.headers.forwarded !== undefined);
  }

  /** Holds a slot for `ip`, or says why not. The caller must `release(ip)` once for every success. */
  admit(request: UpgradeRequest, ip: string): AdmissionRefusal | undefined {
    const origin = request.headers.origin;
    if (origin !== undefined && this.origins.length > 0 && !this.origins.some((o) => globMatch(o, origin.toLowerCase()))) {
      return 'origin_not_allowed';
    }
    if (this.heldTotal >= this.maxConnections) return 'at_capacity';
    if (this.perIp) {
      const entry = this.entryFor(ip);
      if (entry === undefined) return 'too_many_addresses';
      if (this.config.maxConnectionsPerIp > 0 && entry.held >= this.config.maxConnectionsPerIp) return 'too_many_from_address';
      if (entry.bucket !== undefined && !entry.bucket.tryTake(1)) return 'connecting_too_fast';
      entry.held++;
    }
    this.heldTotal++;
    return undefined;
  }

  /** Holds a slot without checks: an accepted upgrade became a connection (released on close). */
  opened(ip: string): void {
    this.heldTotal++;
    if (!this.perIp) return;
    const entry = this.entryFor(ip);
    if (entry !== undefined) entry.held++;
  }

  release(ip: string): void {
    this.heldTotal--;
    if (!this.perIp) return;
    const key = ipKey(ip);
    const entry = this.ips.get(key);
    if (entry === undefined) return;
    entry.held--;
    // Without a rate bucket an address holding nothing carries nothing to remember: forget it now,
    // so the table holds only live addresses (at most limits.maxConnections) and new-address churn
    // cannot fill it between two housekeeping prunes.
    if (entry.held === 0 && entry.bucket === undefined) {
      this.ips.delete(key);
      this.pool.sub(IP_ENTRY_BYTES);
    }
  }

  /** Forgets addresses that hold nothing and whose bucket has refilled (housekeeping). */
  prune(): void {
    for (const [ip, entry] of this.ips) {
      if (!this.idle(entry)) continue;
      this.ips.delete(ip);
      this.pool.sub(IP_ENTRY_BYTES);
    }
  }

  private idle(entry: IpEntry): boolean {
    return entry.held === 0 && (entry.bucket === undefined || entry.bucket.available() >= this.config.connectBurstPerIp);
  }

  private entryFor(ip: string): IpEntry | undefined {
    const key = ipKey(ip);
    let entry = this.ips.get(key);
    if (entry !== undefined) return entry;
    if (this.ips.size >= this.config.maxTrackedIps) {
      // Pruning scans the map: at most once per second, so a flood of new addresses cannot make every upgrade O(n).
      const now = this.clock();
      if (now - this.lastPrune >= 1000) {
        this.lastPrune = now;
        this.prune();
      }
      if (this.ips.size >= this.config.maxTrackedIps) return undefined;
    }
    const { connectRatePerIp, connectBurstPerIp } = this.config;
    entry = { held: 0, bucket: connectRatePerIp > 0 ? new TokenBucket(connectRatePerIp, connectBurstPerIp, this.clock) : undefined };
    this.ips.set(key, entry);
    this.pool.add(IP_ENTRY_BYTES);
    return entry;
  }
}

/**
 * The per-IP accounting key: IPv4 as is (IPv4-mapped IPv6 unwrapped), IPv6 by its /64 prefix,
 * since one subscriber line usually owns a whole /64 and could otherwise rotate addresses freely.
 */
export function ipKey(ip: string): string {
  if (ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4) return ip.slice(7);
  if (isIP(ip) !== 6) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = ip.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
