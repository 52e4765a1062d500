/**
 * The WebSocket the client needs: the WHATWG interface that browsers, Node ≥ 22 (globalThis) and
 * the `ws` package all implement. Nothing else of the environment is used, so the browser build
 * carries no Node-only module.
 */
export interface WebSocketLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  /** The subprotocol the server selected ('' for none); `sluice.batch`: frames may hold several events. */
  readonly protocol?: string;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket class; the `ws` package's also takes options (handshake headers) as a third argument. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[], options?: { headers?: Record<string, string> }) => WebSocketLike;

/**
 * Whether an implementation can send handshake headers: the `ws` package's class can (recognised by
 * its `terminate`, which the WHATWG WebSocket lacks); browsers' cannot.
 */
export function sendsHeaders(Impl: WebSocketConstructor): boolean {
  return typeof (Impl.prototype as { terminate?: unknown } | undefined)?.terminate === 'function';
}

/** `readyState` of an open socket (the same in every implementation). */
export const OPEN = 1;

let cached: Promise<WebSocketConstructor> | undefined;

/**
 * The WebSocket implementation to use: the given one, else `globalThis.WebSocket`, else the `ws`
 * package (Node 20). `ws` is imported dynamically through a variable so that bundlers leave it out
 * of browser builds.
 */
export function resolveWebSocket(given?: WebSocketConstructor): Promise<WebSocketConstructor> {
  if (given !== undefined) return Promise.resolve(given);
  const native = (globalThis as { WebSocket?: unknown }).WebSocket;
  if (typeof native === 'function') return Promise.resolve(native as WebSocketConstructor);
  cached ??= importWs();
  return cached;
}

async function importWs(): Promise<WebSocketConstructor> {
  const specifier = 'ws';
  try {
    const mod = (await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier)) as { default?: unknown; WebSocket?: unknown };
    return (mod.default ?? mod.WebSocket) as WebSocketConstructor;
  } catch (err) {
    cached = undefined;
    throw new Error(`no WebSocket implementation: globalThis.WebSocket is missing and the "ws" package could not be loaded (${String(err)})`);
  }
}
