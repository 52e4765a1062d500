import type { Registry } from 'prom-client';
import { HTTP_REFUSALS, type HttpRefusalName } from '../protocol/refusals.js';
import type { HttpRequest, HttpResponse } from '../net/http.js';
import type { Stats } from '../observability/stats.js';
import { BATCH_PATH, PUBLISH_PATH, type PublishApi } from './publish-api.js';

/** Answers the requests under one path prefix (`path` is the URL without its query string). */
export type PathHandler = (request: HttpRequest, path: string) => HttpResponse;

export interface RouteState {
  readonly registry: Registry;
  /** Counts requests in progress (`httpRequestsInProgress`) and refusals. */
  readonly stats: Stats;
  /** Requests in progress at once (limits.maxHttpRequests); beyond it: 503. */
  readonly maxRequests: number;
  /** False while starting or draining. */
  ready(): boolean;
  /** Serves /dashboard and below when `dashboard.enabled`; otherwise they are 404. */
  readonly dashboard?: PathHandler;
  /** The HTTP publish API; /api/publish(/batch) is 404 unless it is enabled. */
  readonly publishApi?: PublishApi;
}

/**
 * HTTP endpoints served on the WebSocket port, whichever transport is in use: at most
 * `maxRequests` in progress. A request is routed first; only the publish API reads a body, after
 * checking the API key.
 */
export async function handleHttp(request: HttpRequest, state: RouteState): Promise<HttpResponse> {
  const { stats } = state;
  if (stats.httpRequestsInProgress >= state.maxRequests) {
    stats.httpRequestsRefused++;
    return refuse('too_many_requests', { 'Retry-After': '1' });
  }
  stats.httpRequestsInProgress++;
  try {
    return await route(request, state);
  } finally {
    stats.httpRequestsInProgress--;
  }
}

function route(request: HttpRequest, state: RouteState): HttpResponse | Promise<HttpResponse> {
  const path = request.url.split('?')[0];
  if (path === PUBLISH_PATH || path === BATCH_PATH) {
    return state.publishApi?.enabled ? state.publishApi.handle(request, path) : refuse('publish_api_off');
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') return refuse('method_not_allowed', { Allow: 'GET, HEAD' });
  switch (path) {
    case '/healthz':
      return { status: 200, headers: TEXT, body: 'ok\n' };
    case '/readyz':
      return state.ready() ? { status: 200, headers: TEXT, body: 'ready\n' } : refuse('not_ready');
    case '/metrics':
      return metrics(state.registry);
    case '/':
      return refuse('upgrade_required', { Upgrade: 'websocket' });
    default:
      if (state.dashboard !== undefined && (path === '/dashboard' || path.startsWith('/dashboard/'))) return state.dashboard(request, path);
      return refuse('not_found');
  }
}

async function metrics(registry: Registry): Promise<HttpResponse> {
  return { status: 200, headers: { 'Content-Type': registry.contentType }, body: await registry.metrics() };
}

const TEXT = { 'Content-Type': 'text/plain; charset=utf-8' };

function refuse(name: HttpRefusalName, headers?: Record<string, string>): HttpResponse {
  const { status, reason } = HTTP_REFUSALS[name];
  return { status, headers: { ...TEXT, ...headers }, body: `${reason}\n` };
}
