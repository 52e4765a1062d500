/** Who a connection is, as established at upgrade (or by an in-band `auth` refresh). */
export interface Identity {
  /** A valid token was presented. */
  readonly authenticated: boolean;
  /** The token's `sub`, when it has one. */
  readonly sub: string | undefined;
  /** When the token expires (clock ms); Infinity for anonymous connections and tokens without `exp`. */
  readonly expiresAt: number;
  /** Channel patterns the token grants, by operation. */
  readonly grants: Grants;
  /** What the connect or refresh hook attached to the connection (docs/hooks.md); undefined without hooks. */
  readonly info?: unknown;
}

/** A client let in at upgrade, handed to its connection. */
export interface AdmittedClient {
  /** The client's address as admission counted it (X-Forwarded-For with trustProxy). */
  readonly ip: string;
  readonly identity: Identity;
}

export interface Grants {
  readonly sub: readonly string[];
  readonly pub: readonly string[];
}

const NO_GRANTS: Grants = Object.freeze({ sub: Object.freeze([]), pub: Object.freeze([]) });

export const ANONYMOUS: Identity = Object.freeze({ authenticated: false, sub: undefined, expiresAt: Infinity, grants: NO_GRANTS });

/** For log lines: who did it. */
export function describeIdentity(identity: Identity): string {
  if (!identity.authenticated) return 'anonymous';
  return identity.sub === undefined ? 'token without sub' : `sub=${identity.sub}`;
}
