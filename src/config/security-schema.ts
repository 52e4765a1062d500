import { z } from 'zod';

/**
 * Config sections for who may connect, subscribe and publish: `auth`, `admission`, `httpApi`.
 * Documented key by key in docs/security.md. Auth is on when at least one key or a JWKS URL is
 * configured; otherwise every connection is anonymous and may do everything (development default).
 */

export const JWT_ALGORITHMS = ['HS256', 'RS256', 'ES256', 'EdDSA'] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

const JwtKey = z
  .strictObject({
    /** Matched against the token header's `kid`; a key without kid is tried for tokens without one. */
    kid: z.string().min(1).max(256).optional(),
    /** The only algorithm this key verifies: pinning it refuses `alg: none` and HS/RS confusion. */
    alg: z.enum(JWT_ALGORITHMS),
    /** HS256 shared secret (UTF-8), at least 32 bytes. */
    secret: z.string().optional(),
    /** RS256/ES256/EdDSA public key, PEM (SPKI). */
    publicKey: z.string().optional(),
  })
  .superRefine((k, ctx) => {
    if (k.alg === 'HS256') {
      if (k.secret === undefined || Buffer.byteLength(k.secret) < 32) ctx.addIssue({ code: 'custom', path: ['secret'], message: 'HS256 needs a secret of at least 32 bytes' });
      if (k.publicKey !== undefined) ctx.addIssue({ code: 'custom', path: ['publicKey'], message: 'HS256 takes a secret, not a public key' });
    } else {
      if (k.publicKey === undefined) ctx.addIssue({ code: 'custom', path: ['publicKey'], message: `${k.alg} needs a PEM public key` });
      if (k.secret !== undefined) ctx.addIssue({ code: 'custom', path: ['secret'], message: `${k.alg} takes a public key, not a secret` });
    }
  });

/** Who may do what in the channels a pattern matches. */
const Access = {
  /**
   * `anyone` (anonymous included), `authenticated` (any valid token), `granted` (a token whose
   * grants claim names a matching pattern), and for publish `server` (only the HTTP API).
   */
  subscribe: z.enum(['anyone', 'authenticated', 'granted']),
  publish: z.enum(['anyone', 'authenticated', 'granted', 'server']),
  /** Who may list members and counts (docs/presence.md); `subscribe`: whoever may subscribe. */
  presence: z.enum(['subscribe', 'anyone', 'authenticated', 'granted']),
};

const Namespace = z.strictObject({
  /**
   * Channel-name pattern; `*` matches any run of characters. `{sub}` matches exactly the
   * connection's own token subject: such a channel is personal, only that user may subscribe to
   * it or publish to it (when publish allows clients at all), grants notwithstanding.
   */
  pattern: z
    .string()
    .min(1)
    .max(256)
    .refine((p) => p.split('{sub}').length <= 2, 'at most one {sub}')
    .refine((p) => !p.includes('{sub}') || (!p.split('{sub}')[0]!.includes('*') && !p.includes('{sub}*')), '{sub} must not follow a * or be followed by one'),
  subscribe: Access.subscribe.default('authenticated'),
  publish: Access.publish.default('granted'),
  presence: Access.presence.default('subscribe'),
});

export const AuthSchema = z
  .strictObject({
    /** Keys that verify connect tokens. Empty and no jwksUrl: auth is off. */
    keys: z.array(JwtKey).max(32).default([]),
    /** A JWKS endpoint (RS256/ES256/EdDSA keys only); '' = none. */
    jwksUrl: z.string().default(''),
    /** How long a fetched JWKS is trusted before it is refetched. */
    jwksCacheMs: z.number().int().min(1_000).default(600_000),
    /** Minimum time between refetches triggered by an unknown `kid` (bounds refetch storms); at least 1 s. */
    jwksCooldownMs: z.number().int().min(1_000).default(30_000),
    jwksTimeoutMs: z.number().int().min(100).default(5_000),
    /** Required `aud` ('' = not checked). */
    audience: z.string().default(''),
    /** Required `iss` ('' = not checked). */
    issuer: z.string().default(''),
    /** Leeway for `exp` and `nbf`, also applied to expiry while connected. */
    clockToleranceSec: z.number().int().min(0).max(300).default(5),
    /** Tokens longer than this are refused unread. */
    maxTokenBytes: z.number().int().min(256).max(65_536).default(8_192),
    /** Query parameter that may carry the token; '' (the default) = not accepted from the URL, where access logs keep it. */
    queryParam: z.string().max(64).default(''),
    /** Claim holding grants: `{"sub":["pattern",…],"pub":["pattern",…]}`. */
    grantsClaim: z.string().min(1).max(64).default('sluice'),
    /** Grant patterns per list in one token; more are refused. */
    maxGrants: z.number().int().min(1).max(1_000).default(64),
    /** `forbidden` refusals within inbound.strikeWindowMs that close the connection with 4003. */
    forbiddenStrikes: z.number().int().min(1).default(5),
    /** Access for channels no namespace matches. */
    defaults: z.strictObject({ subscribe: Access.subscribe.default('authenticated'), publish: Access.publish.default('granted'), presence: Access.presence.default('subscribe') }).prefault({}),
    /** First matching pattern wins. */
    namespaces: z.array(Namespace).max(1_000).default([]),
  })
  .prefault({});

export const AdmissionSchema = z
  .strictObject({
    /**
     * Open connections per client IP (IPv6: per /64); 0 = unlimited. The default, a tenth of the
     * default `limits.maxConnections`, keeps one address from taking the server and bounds how many
     * sockets one address can close at once (docs/security.md). Behind a proxy, set `trustProxy`
     * or every client counts as the proxy's address; raise it where many users share one address.
     */
    maxConnectionsPerIp: z.number().int().min(0).default(1_000),
    /** New connections per second per client IP (token bucket); 0 = unlimited. */
    connectRatePerIp: z.number().min(0).default(0),
    /** Burst of the per-IP connect bucket. */
    connectBurstPerIp: z.number().int().min(1).default(20),
    /** Client IPs tracked at once (per-IP counters and buckets); when full, new IPs get 503. */
    maxTrackedIps: z.number().int().min(16).default(100_000),
    /** Browser origins allowed to connect; empty = any. Requests without Origin (non-browsers) are allowed. */
    allowedOrigins: z.array(z.string().min(1)).max(1_000).default([]),
    /** Take the client IP from X-Forwarded-For (set only behind a proxy that overwrites it). */
    trustProxy: z.boolean().default(false),
    /** With trustProxy: how many proxies append to X-Forwarded-For; the client is that many entries from the right. */
    proxyHops: z.number().int().min(1).max(16).default(1),
    /** Seconds suggested by Retry-After on a 503/429 refusal. */
    retryAfterSec: z.number().int().min(1).default(5),
  })
  .prefault({});

export const HttpApiSchema = z
  .strictObject({
    /** API keys accepted by POST /api/publish(/batch); empty = the API is off (404). */
    apiKeys: z.array(z.string().min(16).max(512)).max(32).default([]),
    /** Largest request body; larger gets 413 before it is read in full. */
    maxBodyBytes: z.number().int().min(1_024).max(64 * 1024 * 1024).default(1024 * 1024),
    /** Publications per batch request. */
    maxBatch: z.number().int().min(1).max(10_000).default(100),
    /** Publications per second across all API callers (token bucket); 0 = unlimited. */
    publicationsPerSecond: z.number().min(0).default(1_000),
    publicationsBurst: z.number().int().min(1).default(2_000),
    /** Bytes queued in all outbound queues above which the API answers 503; 0 = never. */
    overloadQueuedBytes: z.number().int().min(0).default(256 * 1024 * 1024),
  })
  .prefault({});

export type AuthConfig = z.output<typeof AuthSchema>;
export type AdmissionConfig = z.output<typeof AdmissionSchema>;
export type HttpApiConfig = z.output<typeof HttpApiSchema>;
export type AccessRule = z.output<typeof Namespace>;
