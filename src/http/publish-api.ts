import { z } from 'zod';
import { KeyCheck } from '../auth/credentials.js';
import type { Config } from '../config/schema.js';
import type { HttpApiConfig } from '../config/security-schema.js';
import { TokenBucket } from '../util/token-bucket.js';
import type { Hub, PublishResult } from '../hub/hub.js';
import type { Stats } from '../observability/stats.js';
import { CHANNEL_NAME } from '../protocol/channel-name.js';
import type { HttpRequest, HttpResponse } from '../net/http.js';
import { HTTP_REFUSALS, type HttpRefusalName } from '../protocol/refusals.js';
import type { Clock } from '../util/clock.js';

/** What the publish API needs of the configuration: `httpApi.*` and `limits.maxPayloadBytes`, under their config names. */
export interface PublishApiSettings extends Pick<HttpApiConfig, 'apiKeys' | 'maxBatch' | 'publicationsPerSecond' | 'publicationsBurst' | 'overloadQueuedBytes'> {
  readonly maxPayloadBytes: number;
}

export function publishApiSettings(config: Config): PublishApiSettings {
  const { apiKeys, maxBatch, publicationsPerSecond, publicationsBurst, overloadQueuedBytes } = config.httpApi;
  return { apiKeys, maxBatch, publicationsPerSecond, publicationsBurst, overloadQueuedBytes, maxPayloadBytes: config.limits.maxPayloadBytes };
}

export interface PublishApiDeps {
  readonly settings: PublishApiSettings;
  readonly hub: Hub;
  readonly stats: Stats;
  readonly clock: Clock;
  /** Bytes waiting in every connection's outbound queue (O(connections): called at most every OVERLOAD_CHECK_MS). */
  readonly queuedBytes: () => number;
  readonly draining: () => boolean;
  /** True while the memory budget is above its soft mark. */
  readonly underPressure: () => boolean;
}

/** What became of one publication; the counts are over this node's subscribers. */
export type PublicationReport =
  | { ch: string; seq: number; subscribers: number; written: number; queued: number; shed: number; disconnected: number }
  | { ch: string; error: 'channel_limit' | 'unavailable' | 'publish_uncertain' | 'key_required' | 'key_limit' };

export const PUBLISH_PATH = '/api/publish';
export const BATCH_PATH = '/api/publish/batch';

/** How long an overload verdict is reused before the queues are summed again. */
const OVERLOAD_CHECK_MS = 100;

const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8' };

const Publication = z.object({
  ch: z.string().regex(CHANNEL_NAME, 'must match [A-Za-z0-9_.:@-]{1,128}'),
  key: z.string().min(1).max(128).optional(),
  /** The publication's id: a request retried with the same pid (after `publish_uncertain`, or no answer) publishes it at most once. */
  pid: z.string().min(1).max(64).optional(),
  data: z.unknown().refine((d) => d !== undefined, 'required'),
});
type Publication = z.infer<typeof Publication>;

/**
 * POST /api/publish and /api/publish/batch: publishing for backends, with feedback. Checks, in
 * order: API key (`Authorization: Bearer` or `X-Api-Key`, constant time), body (zod; 400 names
 * the field), draining, memory pressure or overloaded queues (503), the API's own token bucket, one token per
 * publication (429). Publishes (synchronously with
 * the memory broker, after Redis answered with the Redis broker) and answers 202 with one report
 * per publication.
 */
export class PublishApi {
  private readonly keys: KeyCheck;
  private readonly bucket: TokenBucket;
  private readonly single: z.ZodType<Publication>;
  private readonly batch: z.ZodType<{ publications: Publication[] }>;
  private overloadCheckedAt = -Infinity;
  private overloaded = false;

  constructor(private readonly deps: PublishApiDeps) {
    const { settings } = deps;
    this.keys = new KeyCheck(settings.apiKeys, { header: 'x-api-key' });
    this.bucket = new TokenBucket(settings.publicationsPerSecond, settings.publicationsBurst, deps.clock);
    this.single = Publication;
    this.batch = z.object({ publications: z.array(Publication).min(1).max(settings.maxBatch) });
  }

  /** Off when no API key is configured (the routes then answer 404). */
  get enabled(): boolean {
    return this.keys.enabled;
  }

  /** Checks method, key and content type before the body is read (see HttpRequest.readBody). */
  handle(request: HttpRequest, path: string): HttpResponse | Promise<HttpResponse> {
    if (request.method !== 'POST') return refuse('method_not_allowed', 'use POST', { Allow: 'POST' });
    if (!this.keys.allows(request)) return refuse('api_key_refused', undefined, { 'WWW-Authenticate': 'Bearer' });
    const type = request.headers['content-type'];
    if (type !== undefined && !/^application\/json\b/i.test(type)) return refuse('unsupported_media_type');
    return request.readBody().then((raw) => (raw === undefined ? refuse('body_too_large', undefined, { Connection: 'close' }) : this.publish(raw, path)));
  }

  private publish(raw: Buffer, path: string): HttpResponse | Promise<HttpResponse> {
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return refuse('bad_body', 'body: not valid JSON');
    }
    const parsed = path === BATCH_PATH ? this.batch.safeParse(body) : this.single.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return refuse('bad_body', `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
    }
    const publications = path === BATCH_PATH ? (parsed.data as { publications: Publication[] }).publications : [parsed.data as Publication];
    const encoded: string[] = [];
    for (const [i, pub] of publications.entries()) {
      const raw = JSON.stringify(pub.data);
      const { maxPayloadBytes } = this.deps.settings;
      if (Buffer.byteLength(raw) > maxPayloadBytes) {
        const field = path === BATCH_PATH ? `publications.${i}.data` : 'data';
        return refuse('bad_body', `${field}: larger than limits.maxPayloadBytes (${maxPayloadBytes})`);
      }
      encoded.push(raw);
    }
    if (this.deps.draining()) return refuse('shutting_down', undefined, { 'Retry-After': '1' });
    if (this.deps.underPressure()) return refuse('memory_pressure', undefined, { 'Retry-After': '1' });
    if (this.isOverloaded()) return refuse('overloaded', undefined, { 'Retry-After': '1' });
    if (!this.bucket.tryTake(publications.length)) {
      const retrySec = Math.max(1, Math.ceil(this.bucket.msUntil(publications.length) / 1000));
      return refuse('publish_rate_limited', undefined, { 'Retry-After': String(retrySec) });
    }
    const outcomes = publications.map((pub, i) => this.deps.hub.publish(pub.ch, pub.key, encoded[i]!, pub.pid));
    this.deps.stats.apiPublications += publications.length;
    if (outcomes.some((o) => o instanceof Promise)) {
      return Promise.all(outcomes).then((results) => reply(202, { results: results.map((r, i) => report(publications[i]!.ch, r)) }));
    }
    return reply(202, { results: (outcomes as PublishResult[]).map((r, i) => report(publications[i]!.ch, r)) });
  }

  private isOverloaded(): boolean {
    const limit = this.deps.settings.overloadQueuedBytes;
    if (limit === 0) return false;
    const now = this.deps.clock();
    if (now - this.overloadCheckedAt >= OVERLOAD_CHECK_MS) {
      this.overloadCheckedAt = now;
      this.overloaded = this.deps.queuedBytes() > limit;
    }
    return this.overloaded;
  }
}

function report(ch: string, result: PublishResult): PublicationReport {
  if (!result.ok) return { ch, error: result.code };
  return { ch, seq: result.seq, ...result.fanOut };
}

function reply(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return { status, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** A catalogued refusal as `{"error": reason}`; `reason` replaces the catalogue's when more precise. */
function refuse(name: HttpRefusalName, reason?: string, headers?: Record<string, string>): HttpResponse {
  const refusal = HTTP_REFUSALS[name];
  return reply(refusal.status, { error: reason ?? refusal.reason }, headers);
}
