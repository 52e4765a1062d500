import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { afterEach } from 'vitest';
import { createClient, type ClientOptions, type SluiceClient } from '../../src/client/client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
export { freePort } from '../helpers/ports.js';
import type { ClientEvents } from '../../src/client/events.js';
import type { WebSocketConstructor } from '../../src/client/transport.js';

/** A `ws` WebSocket that remembers every instance, so a test can reach a client's TCP socket. */
export function recordingWebSocket(): { Impl: WebSocketConstructor; sockets: WebSocket[]; tcp: () => Socket } {
  const sockets: WebSocket[] = [];
  class Recording extends WebSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
    }
  }
  return {
    Impl: Recording as unknown as WebSocketConstructor,
    sockets,
    tcp: () => (sockets.at(-1) as unknown as { _socket: Socket })._socket,
  };
}

/** The next event of that kind (a timeout only guards against a hung test). */
export function nextEvent<E extends keyof ClientEvents>(
  client: SluiceClient,
  event: E,
  match: (e: ClientEvents[E]) => boolean = () => true,
  timeoutMs = 15_000,
): Promise<ClientEvents[E]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for client event ${event}`));
    }, timeoutMs);
    const off = client.on(event, (e) => {
      if (!match(e)) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}


/** A promise plus its resolver, for gates a test opens when it is ready. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/**
 * Gateways and clients for one suite, all stopped after each test. Call inside `describe`.
 */
export function harness(transport = 'ws'): {
  gateway: (overrides?: Parameters<typeof startGateway>[0]) => Promise<TestGateway>;
  client: (url: string, options?: ClientOptions) => SluiceClient;
} {
  const gateways: TestGateway[] = [];
  const clients: SluiceClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const g of gateways.splice(0)) await g.stop();
  });
  return {
    gateway: async (overrides = {}) => {
      const gw = await startGateway(overrides, transport);
      gateways.push(gw);
      return gw;
    },
    client: (url, options = {}) => {
      const c = createClient(url, options);
      clients.push(c);
      return c;
    },
  };
}
