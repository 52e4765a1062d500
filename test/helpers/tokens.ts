import { exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';

export const AUDIENCE = 'sluice-test';
export const ISSUER = 'https://issuer.test';
export const HS_SECRET = 'test-secret-that-is-at-least-32-bytes-long!';

export type SigningAlg = 'HS256' | 'RS256' | 'ES256' | 'EdDSA';

export interface KeyPairPem {
  readonly privateKey: CryptoKey;
  readonly publicPem: string;
}

/** Test keys for every algorithm Sluice accepts, with the auth.keys config that trusts them. */
export class TestKeys {
  private constructor(readonly pairs: Record<Exclude<SigningAlg, 'HS256'>, KeyPairPem>) {}

  static async generate(): Promise<TestKeys> {
    const pair = async (alg: string): Promise<KeyPairPem> => {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
      return { privateKey, publicPem: await exportSPKI(publicKey) };
    };
    return new TestKeys({ RS256: await pair('RS256'), ES256: await pair('ES256'), EdDSA: await pair('EdDSA') });
  }

  /** auth.keys entries, kid = the algorithm in lower case. */
  get config(): Array<{ kid: string; alg: SigningAlg; secret?: string; publicKey?: string }> {
    return [
      { kid: 'hs256', alg: 'HS256' as const, secret: HS_SECRET },
      ...(['RS256', 'ES256', 'EdDSA'] as const).map((alg) => ({ kid: alg.toLowerCase(), alg, publicKey: this.pairs[alg].publicPem })),
    ];
  }

  /**
   * A token valid for an hour, audience and issuer set, signed with `alg` under kid = alg.
   * `claims` override or add claims; `header` overrides the protected header.
   */
  async sign(claims: JWTPayload & Record<string, unknown> = {}, alg: SigningAlg = 'HS256', header: Record<string, unknown> = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const jwt = new SignJWT({ aud: AUDIENCE, iss: ISSUER, iat: now, exp: now + 3600, ...claims }).setProtectedHeader({ alg, kid: alg.toLowerCase(), ...header });
    return jwt.sign(alg === 'HS256' ? new TextEncoder().encode(HS_SECRET) : this.pairs[alg].privateKey);
  }
}

/** Signs with any key material, e.g. an attacker's own key or another key's public PEM as an HMAC secret. */
export async function signWith(key: CryptoKey | Uint8Array, header: { alg: string; kid?: string }, claims: JWTPayload & Record<string, unknown>): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ aud: AUDIENCE, iss: ISSUER, exp: now + 3600, ...claims }).setProtectedHeader(header).sign(key);
}

/** An unsigned token: `alg: none`, empty signature. */
export function unsignedToken(claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'none' }): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${b64(header)}.${b64({ aud: AUDIENCE, iss: ISSUER, exp: now + 3600, ...claims })}.`;
}

/** A token with one payload claim changed after signing (signature left as it was). */
export function tamperPayload(token: string, claims: Record<string, unknown>): string {
  const [h, p, s] = token.split('.');
  const payload = { ...JSON.parse(Buffer.from(p!, 'base64url').toString()), ...claims };
  return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
}
