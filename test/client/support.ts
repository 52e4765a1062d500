import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { afterEach } from 'vitest';
import { createClient, type ClientOptions, type SluiceClient } from '../../src/client/client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
export { freePort } from '../../devkit/ports.js';
import type { ClientEvents } from '../../src/client/events.js';
import type { WebSocketConstructor } from '../../src/client/transport.js';
import type { Gap, Message } from '../../src/client/subscription.js';

/**
 * A `ws` WebSocket that remembers every instance, so a test can reach a client's TCP socket, and
 * counts the WebSocket frames (data frames) the client received.
 */
export function recordingWebSocket(): { Impl: WebSocketConstructor; sockets: WebSocket[]; tcp: () => Socket; frames: { count: number } } {
  const sockets: WebSocket[] = [];
  const frames = { count: 0 };
  class Recording extends WebSocket {
    constructor(url: string, protocols?: string | string[], options?: WebSocket.ClientOptions) {
      super(url, protocols, options);
      sockets.push(this);
      this.on('message', () => frames.count++);
    }
  }
  return {
    Impl: Recording as unknown as WebSocketConstructor,
    sockets,
    tcp: () => (sockets.at(-1) as unknown as { _socket: Socket })._socket,
    frames,
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

/** A WebSocket driven by the test: it records what the client sends and hands it frames to read. */
export class ScriptedSocket {
  readyState = 1;
  bufferedAmount = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  readonly sent: Record<string, any>[] = [];

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, any>);
  }

  close(): void {
    this.readyState = 3;
  }

  /** The server sends `frames`, in order. */
  receive(...frames: Record<string, unknown>[]): void {
    for (const frame of frames) this.onmessage?.({ data: JSON.stringify(frame) });
  }

  /** The server closes the connection with `code`. */
  closeWith(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  /** The requests sent with that `op`. */
  requests(op: string): Record<string, any>[] {
    return this.sent.filter((f) => f.op === op);
  }
}

/** A WebSocket implementation whose instances are `ScriptedSocket`s, handed out in creation order. */
export function scriptedWebSocket(): { Impl: WebSocketConstructor; next: () => Promise<ScriptedSocket> } {
  const made: ScriptedSocket[] = [];
  const waiters: Array<(s: ScriptedSocket) => void> = [];
  let taken = 0;
  class Impl extends ScriptedSocket {
    constructor() {
      super();
      made.push(this);
      waiters.shift()?.(this);
    }
  }
  return {
    Impl: Impl as unknown as WebSocketConstructor,
    next: () => {
      const index = taken++;
      return index < made.length ? Promise.resolve(made[index]!) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}

/** Collects what a subscription delivers and lets a test wait for a count. */
export function collector() {
  const seqs: number[] = [];
  const gaps: Gap[] = [];
  let waiting: { count: number; resolve: () => void } | undefined;
  const check = () => {
    if (waiting && seqs.length + gaps.length >= waiting.count) {
      waiting.resolve();
      waiting = undefined;
    }
  };
  return {
    seqs,
    gaps,
    onMessage: (m: Message) => {
      seqs.push(m.seq);
      check();
    },
    onGap: (g: Gap) => {
      gaps.push(g);
      check();
    },
    /** Resolves once messages + gaps reach `count`. */
    until: (count: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out at ${seqs.length} messages, ${gaps.length} gaps`)), 15_000);
        waiting = { count, resolve: () => (clearTimeout(timer), resolve()) };
        check();
      }),
  };
}
