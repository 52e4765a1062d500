import { createHmac, timingSafeEqual } from 'node:crypto';

/** The cookie that carries a dashboard session. */
export const SESSION_COOKIE = 'sluice_dashboard';
/** How long a session lasts (seconds): the cookie's Max-Age and the expiry signed into it. */
export const SESSION_TTL_S = 12 * 3600;

const VALUE = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

/** A cookie's value in a `Cookie` request header. */
function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * The dashboard's browser sessions, so that the admin key never travels in a URL (where access
 * logs and browser history keep it): the page trades the key, sent once in an `Authorization`
 * header, for an `HttpOnly; SameSite=Strict` cookie, which its `EventSource` then sends. Stateless:
 * the value is `<expiry>.<HMAC-SHA256 of it keyed by the admin key>`, so sessions survive a
 * restart and a new admin key ends them all.
 */
export class DashboardSessions {
  constructor(
    private readonly adminKey: string,
    /** Wall-clock ms (the expiry is in the cookie). */
    private readonly now: () => number = Date.now,
  ) {}

  /** A `Set-Cookie` value opening a session. */
  open(): string {
    const expires = Math.floor(this.now() / 1000) + SESSION_TTL_S;
    return `${SESSION_COOKIE}=${expires}.${this.sign(expires)}; Max-Age=${SESSION_TTL_S}; Path=/dashboard; HttpOnly; SameSite=Strict`;
  }

  /** Whether a `Cookie` header carries a session opened with this admin key and not expired. */
  valid(cookieHeader: string | undefined): boolean {
    const match = VALUE.exec(cookieValue(cookieHeader, SESSION_COOKIE) ?? '');
    if (match === null) return false;
    const expires = Number(match[1]);
    if (expires * 1000 <= this.now()) return false;
    return timingSafeEqual(Buffer.from(match[2]!), Buffer.from(this.sign(expires)));
  }

  private sign(expires: number): string {
    return createHmac('sha256', this.adminKey).update(`sluice dashboard session until ${expires}`).digest('base64url');
  }
}
