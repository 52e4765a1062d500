/**
 * What uWS's own pub/sub (`app.publish` on a topic) does to one subscriber's stream, observed on real
 * sockets with the native binary the uws transport loads: the facts a fast path for caught-up
 * subscribers would stand on (docs/benchmarks.md, "uWS publish for caught-up subscribers").
 *
 *   npx tsx loadtest/experiments/uws-publish-semantics.ts
 *
 * Each probe prints what the client received, in order. Bounded: a few thousand frames, 60 s at most.
 */
import WebSocket from 'ws';
import { loadUws } from '../../src/transport/uws-loader.js';
import { until } from '../../devkit/until.js';

interface TopicWs {
  send(message: string | Buffer, isBinary?: boolean): number;
  subscribe(topic: string): boolean;
  unsubscribe(topic: string): boolean;
  getBufferedAmount(): number;
}
interface TopicApp {
  ws(pattern: string, behavior: Record<string, unknown>): TopicApp;
  publish(topic: string, message: string | Buffer, isBinary?: boolean): boolean;
  listen(host: string, port: number, cb: (token: unknown) => void): TopicApp;
}

const uws = loadUws().uws;

/** One server (its own app and topic tree) with `maxBackpressure`, and the server side of its one connection. */
async function server(maxBackpressure: number): Promise<{ app: TopicApp; port: number; socket: () => TopicWs }> {
  let socket: TopicWs | undefined;
  const app = (uws.App() as unknown as TopicApp).ws('/*', {
    compression: 0,
    idleTimeout: 0,
    maxPayloadLength: 64 * 1024,
    maxBackpressure,
    closeOnBackpressureLimit: false,
    upgrade: (res: { upgrade: (...a: unknown[]) => void }, req: { getHeader: (h: string) => string }, context: unknown) =>
      res.upgrade({}, req.getHeader('sec-websocket-key'), '', '', context),
    open: (ws: TopicWs) => (socket = ws),
    message: () => {},
    close: () => (socket = undefined),
  });
  const port = await new Promise<number>((resolve, reject) =>
    app.listen('127.0.0.1', 0, (token) => (token ? resolve(uws.us_socket_local_port(token as never)) : reject(new Error('listen failed')))),
  );
  return { app, port, socket: () => socket! };
}

/** A client that records every text frame and whether it saw a close. */
async function client(port: number): Promise<{ ws: WebSocket; got: string[]; closed: () => boolean }> {
  const got: string[] = [];
  let closed = false;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  ws.on('message', (data) => got.push(data.toString()));
  ws.on('close', () => (closed = true));
  await new Promise((resolve) => ws.once('open', resolve));
  return { ws, got, closed: () => closed };
}

/**
 * Runs `steps` in one timer callback (no socket corked, as the gateway's flush), then waits for
 * `frames` frames. Steps: `sub <topic>`, `unsub <topic>`, `pub <topic> <text>` (app.publish),
 * `send <text>` (ws.send), separated by `; `.
 */
async function probe(steps: string, frames: number): Promise<void> {
  const s = await server(0);
  const c = await client(s.port);
  await until(() => s.socket() !== undefined, 'server side open');
  const run = (): void => {
    const ws = s.socket();
    for (const step of steps.split('; ')) {
      const [op, a, b] = step.split(' ') as [string, string, string | undefined];
      if (op === 'sub') ws.subscribe(a);
      else if (op === 'unsub') ws.unsubscribe(a);
      else if (op === 'pub') s.app.publish(a, b!);
      else ws.send(a);
    }
  };
  await new Promise<void>((resolve) => setTimeout(() => (run(), resolve()), 10));
  await until(() => c.got.length >= frames, `${steps}: ${frames} frames`, 5_000).catch(() => {});
  // Anything that would still come (a frame the probe did not expect) has a turn to arrive.
  await new Promise((r) => setTimeout(r, 100));
  console.log(`${steps}: received [${c.got.join(', ')}]`);
  c.ws.terminate();
}

await probe('sub t; pub t P1; send F; pub t P2', 3);
await probe('sub t; send F; pub t P', 2);
await probe('sub other; pub t P0; sub t; pub t P1', 1);
// Leaving its only topic frees the socket's uWS subscriber, and with it what was pending for it.
await probe('sub t; pub t P; unsub t; send F', 2);
await probe('sub t; sub own; pub t P; unsub t; send F', 2);

// A subscriber that stops reading: how many of 4,000 publications of 1 KiB (4 MiB, above what the
// loopback's socket buffers hold) reach it once it reads again, and does anything tell the server?
for (const maxBackpressure of [64 * 1024, 0]) {
  const s = await server(maxBackpressure);
  const c = await client(s.port);
  await until(() => s.socket() !== undefined, 'server side open');
  s.socket().subscribe('t');
  (c.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
  const payload = 'x'.repeat(1024);
  let accepted = 0;
  let peak = 0;
  for (let turn = 0; turn < 40; turn++) {
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 100; i++) if (s.app.publish('t', payload)) accepted++;
    peak = Math.max(peak, s.socket().getBufferedAmount());
  }
  await new Promise((r) => setTimeout(r, 50));
  peak = Math.max(peak, s.socket().getBufferedAmount());
  (c.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  await until(() => c.got.length >= 4000, 'all frames', 3_000).catch(() => {});
  console.log(
    `maxBackpressure ${maxBackpressure}: publish returned true for ${accepted} of 4000, client received ${c.got.length}, closed ${c.closed()}, server's bufferedAmount peaked at ${peak} B`,
  );
  c.ws.terminate();
}
process.exit(0);
