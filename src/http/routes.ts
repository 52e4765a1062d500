import type { Registry } from 'prom-client';
import type { Dashboard } from '../dashboard/dashboard.js';
import { BATCH_PATH, PUBLISH_PATH, type PublishApi } from './publish-api.js';
import type { HttpRequest, HttpResponse } from '../transport/transport.js';

export interface RouteState {
  readonly registry: Registry;
  /** False while starting or draining. */
  ready(): boolean;
  /** Present when `dashboard.enabled`; otherwise /dashboard is 404. */
  readonly dashboard?: Dashboard;
  /** The HTTP publish API; /api/publish(/batch) is 404 unless it is enabled. */
  readonly publishApi?: PublishApi;
}

/** HTTP endpoints served on the WebSocket port, whichever transport is in use. */
export async function handleHttp(request: HttpRequest, state: RouteState): Promise<HttpResponse> {
  const path = request.url.split('?')[0];
  const text = { 'Content-Type': 'text/plain; charset=utf-8' };
  if (path === PUBLISH_PATH || path === BATCH_PATH) {
    return state.publishApi?.enabled ? state.publishApi.handle(request, path) : { status: 404, headers: text, body: 'not found (the publish API is off: set httpApi.apiKeys)\n' };
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') return { status: 405, headers: { ...text, Allow: 'GET, HEAD' }, body: 'method not allowed\n' };
  switch (path) {
    case '/healthz':
      return { status: 200, headers: text, body: 'ok\n' };
    case '/readyz':
      return state.ready() ? { status: 200, headers: text, body: 'ready\n' } : { status: 503, headers: text, body: 'not ready\n' };
    case '/metrics':
      return { status: 200, headers: { 'Content-Type': state.registry.contentType }, body: await state.registry.metrics() };
    case '/':
      return { status: 426, headers: { ...text, Upgrade: 'websocket' }, body: 'Sluice: connect with a WebSocket client; see docs/protocol.md\n' };
    default:
      if (state.dashboard !== undefined && (path === '/dashboard' || path.startsWith('/dashboard/'))) return state.dashboard.handle(request, path);
      return { status: 404, headers: text, body: 'not found\n' };
  }
}
