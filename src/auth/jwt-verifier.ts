import { createRemoteJWKSet, errors, importSPKI, jwtVerify, type CryptoKey, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { AuthConfig, JwtAlgorithm } from '../config/security-schema.js';
import type { Clock } from '../util/clock.js';
import { GRANT_PATTERN } from '../util/glob.js';
import type { Grants, Identity } from './identity.js';

export type VerifyResult = { ok: true; identity: Identity } | { ok: false; reason: string };

interface StaticKey {
  readonly kid: string | undefined;
  readonly alg: JwtAlgorithm;
  readonly key: CryptoKey;
}

/** Algorithms a JWKS may serve: asymmetric only, so a JWKS can never be used as an HMAC secret. */
const JWKS_ALGORITHMS: readonly JwtAlgorithm[] = ['RS256', 'ES256', 'EdDSA'];

/**
 * Verifies connect tokens. Every key is pinned to one algorithm: a token is only ever checked with
 * a key whose `alg` equals the token header's, so `alg: none` and HS/RS confusion (an RSA public
 * key used as an HMAC secret) are refused before any signature check. Never throws: every failure
 * becomes a short, loggable reason.
 */
export class JwtVerifier {
  private readonly algorithms: string[];
  private readonly resolve: JWTVerifyGetKey;

  private constructor(
    private readonly config: AuthConfig,
    keys: StaticKey[],
    private readonly clock: Clock,
  ) {
    const jwks = config.jwksUrl === '' ? undefined : cachedKeySet(new URL(config.jwksUrl), config, clock);
    this.algorithms = [...new Set([...keys.map((k) => k.alg), ...(jwks ? JWKS_ALGORITHMS : [])])];
    this.resolve = (header, token) => {
      for (const k of keys) if (k.alg === header.alg && k.kid === header.kid) return k.key;
      if (jwks !== undefined && JWKS_ALGORITHMS.includes(header.alg as JwtAlgorithm)) return jwks(header, token);
      throw new errors.JWKSNoMatchingKey();
    };
  }

  /** Imports the configured keys (PEM parsing is async in jose). */
  static async create(config: AuthConfig, clock: Clock): Promise<JwtVerifier> {
    const keys: StaticKey[] = [];
    for (const k of config.keys) {
      // The HMAC key is imported once: handing jose raw bytes would import it again on every verify.
      const key =
        k.alg === 'HS256'
          ? await crypto.subtle.importKey('raw', new TextEncoder().encode(k.secret!), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
          : await importSPKI(k.publicKey!, k.alg);
      keys.push({ kid: k.kid, alg: k.alg, key });
    }
    return new JwtVerifier(config, keys, clock);
  }

  async verify(token: string): Promise<VerifyResult> {
    if (token.length > this.config.maxTokenBytes) return { ok: false, reason: 'token too long' };
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.resolve, {
        algorithms: this.algorithms,
        audience: this.config.audience || undefined,
        issuer: this.config.issuer || undefined,
        clockTolerance: this.config.clockToleranceSec,
        requiredClaims: ['exp'],
        currentDate: new Date(this.clock()),
      }));
    } catch (err) {
      return { ok: false, reason: reasonOf(err) };
    }
    const grants = this.grantsOf(payload[this.config.grantsClaim]);
    if (grants === undefined) return { ok: false, reason: `bad ${this.config.grantsClaim} claim` };
    return {
      ok: true,
      identity: {
        authenticated: true,
        sub: typeof payload.sub === 'string' ? payload.sub : undefined,
        expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : Infinity,
        grants,
      },
    };
  }

  /** `{"sub":[…],"pub":[…]}` of bounded, well-formed patterns; undefined when malformed. */
  private grantsOf(claim: unknown): Grants | undefined {
    if (claim === undefined) return { sub: [], pub: [] };
    if (typeof claim !== 'object' || claim === null || Array.isArray(claim)) return undefined;
    const { sub = [], pub = [] } = claim as { sub?: unknown; pub?: unknown };
    const valid = (list: unknown): list is string[] =>
      Array.isArray(list) && list.length <= this.config.maxGrants && list.every((p) => typeof p === 'string' && GRANT_PATTERN.test(p));
    return valid(sub) && valid(pub) ? { sub: Object.freeze([...sub]), pub: Object.freeze([...pub]) } : undefined;
  }
}

/**
 * The JWKS at `url`, trusted for `auth.jwksCacheMs` after each fetch, measured on the gateway's
 * clock (monotonic, and the one tests drive) rather than jose's wall time, which a clock step back
 * would stretch. jose still fetches on first use and on an unknown `kid` (at most once per
 * `auth.jwksCooldownMs`), and shares one fetch between concurrent verifications.
 */
function cachedKeySet(url: URL, config: AuthConfig, clock: Clock): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(url, { cacheMaxAge: Infinity, cooldownDuration: config.jwksCooldownMs, timeoutDuration: config.jwksTimeoutMs });
  let fetchedAt = -Infinity;
  return async (header, token) => {
    if (clock() - fetchedAt >= config.jwksCacheMs) {
      await remote.reload();
      fetchedAt = clock();
    }
    return remote(header, token);
  };
}

function reasonOf(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'token expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf' || err.claim === 'iat') return 'token not yet valid';
    if (err.claim === 'aud') return 'wrong audience';
    if (err.claim === 'iss') return 'wrong issuer';
    if (err.claim === 'exp') return 'token without exp';
    return `bad claim ${err.claim}`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'bad signature';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no key for this token';
  if (err instanceof errors.JWKSTimeout) return 'key set unavailable';
  if (err instanceof errors.JOSEError) return `malformed token (${err.code})`;
  return 'malformed token';
}
