import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { HttpRequest, HttpResponse } from '../net/http.js';
import { HTTP_REFUSALS, type HttpRefusalName } from '../protocol/refusals.js';
import { DashboardFeed, type SnapshotProducer } from './feed.js';
import { LOGIN_PAGE } from './login-page.js';
import { DashboardSessions } from './session.js';
import type { MemoryPool } from '../util/memory-budget.js';

/** How often the feed sends a snapshot. */
export const DASHBOARD_INTERVAL_MS = 1000;

const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-store',
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'",
};
const EVENT_HEADERS = { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' };
const TEXT = { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' };
const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="sluice dashboard"' };

/** Whether a request presents the admin key (`Authorization: Bearer`; the check is injected by the gateway). */
export interface DashboardAccess {
  allows(request: HttpRequest): boolean;
}

/**
 * The live flow-control dashboard: a static page at /dashboard and its server-sent-event feed at
 * /dashboard/events, both behind the admin key or a session cookie opened with it at
 * /dashboard/session (the key is never accepted in a URL). Built only when `dashboard.enabled`.
 */
export class Dashboard {
  private readonly page: string;
  private readonly events: DashboardFeed;
  private readonly sessions: DashboardSessions;

  constructor(
    config: Config['dashboard'],
    private readonly access: DashboardAccess,
    builder: SnapshotProducer,
    log: Logger,
    pool?: MemoryPool,
  ) {
    this.page = readFileSync(new URL('./page.html', import.meta.url), 'utf8');
    this.sessions = new DashboardSessions(config.adminKey);
    this.events = new DashboardFeed(builder, { intervalMs: DASHBOARD_INTERVAL_MS, maxViewers: config.maxViewers, ...(pool ? { pool } : {}) }, log);
  }

  /** The live feed (viewer count, whether its timer runs). */
  get feed(): DashboardFeed {
    return this.events;
  }

  /** Answers a request under /dashboard (`path` without the query string). */
  handle(request: HttpRequest, path: string): HttpResponse {
    if (path !== '/dashboard' && path !== '/dashboard/events' && path !== '/dashboard/session') return refuse('not_found');
    const byKey = this.access.allows(request);
    if (path === '/dashboard/session') return byKey ? { status: 204, headers: { ...TEXT, 'Set-Cookie': this.sessions.open() }, body: '' } : refuse('admin_key_refused', CHALLENGE);
    if (!byKey && !this.sessions.valid(request.headers.cookie)) {
      return path === '/dashboard' ? { status: 401, headers: { ...PAGE_HEADERS, ...CHALLENGE }, body: LOGIN_PAGE } : refuse('admin_key_refused', CHALLENGE);
    }
    if (path === '/dashboard') return { status: 200, headers: PAGE_HEADERS, body: this.page };
    if (request.method === 'HEAD') return { status: 200, headers: EVENT_HEADERS, body: '' };
    if (this.events.full) return refuse('too_many_viewers', { 'Retry-After': '5' });
    return { status: 200, headers: EVENT_HEADERS, body: `retry: 3000\n\n`, stream: (out) => this.events.join(out) };
  }

  close(): void {
    this.events.close();
  }
}

function refuse(name: HttpRefusalName, headers?: Record<string, string>): HttpResponse {
  const { status, reason } = HTTP_REFUSALS[name];
  return { status, headers: { ...TEXT, ...headers }, body: `${reason}\n` };
}
