/**
 * What the uws adapter's turn costs beside a bare uWS send, in one process and without the rest of
 * the gateway: 1,000 uWS connections (their clients on a worker thread, counting frames), one
 * frame per connection per turn at a fixed turn rate (the bench's 100 B × 100 msg/s workload has
 * exactly this shape), written either through `UwsSocket` (held, then flushed from setImmediate) or
 * with one bare `ws.send` per connection from setImmediate. The figure is the main thread's CPU
 * (from /proc, so the client thread is left out) per delivery; modes alternate so that a loaded
 * machine weighs on both alike.
 *
 *   npx tsx loadtest/experiments/uws-flush-cost.ts [rounds=3] [seconds=3] [turnsPerSecond=100] [size=100] [framesPerTurn=1] [dir]
 *
 * With `dir`, a third mode runs that checkout's adapter (src/transport/uws-socket.ts there) over
 * the same connections: before/after, alternated in one process.
 *
 * `PUBLISH=1` adds uWS's own fan-out beside them (every connection subscribes to one topic): a turn's
 * frames go out with one `app.publish` each, from setImmediate (no socket corked), alone (`publish`)
 * and with what an exact fast path would add per turn, one `getBufferedAmount` per subscriber
 * (`publish+check`); and from inside another socket's cork, as when publishing from a uWS message
 * handler (`publish-corked`).
 *
 * Bounded: ≤ 10 rounds of ≤ 10 s per mode.
 */
import { loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { loadUws } from '../../src/transport/uws-loader.js';
import type { UwsWebSocket } from '../../src/transport/uws-api.js';
import { UWS_CORK_BYTES } from '../../src/transport/uws-cork.js';
import { UwsSocket, type UwsUserData } from '../../src/transport/uws-socket.js';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SocketHandler } from '../../src/net/socket.js';
import { until } from '../../devkit/until.js';
import { mustReadProc } from '../../devkit/proc.js';

const ROUNDS = Math.min(Number(process.argv[2] ?? 3), 10);
const SECONDS = Math.min(Number(process.argv[3] ?? 3), 10);
const TURNS_PER_SECOND = Math.min(Number(process.argv[4] ?? 100), 2000);
const SIZE = Math.min(Number(process.argv[5] ?? 100), 64 * 1024);
const FRAMES = Math.min(Number(process.argv[6] ?? 1), 64);
const OTHER = process.argv[7];
const PUBLISH = process.env.PUBLISH === '1';
const CONNECTIONS = 1000;
const Other = OTHER === undefined ? undefined : ((await import(pathToFileURL(resolve(OTHER, 'src/transport/uws-socket.ts')).href)).UwsSocket as typeof UwsSocket);

/** The main thread's CPU seconds (its own task: the client thread is another). */
const mainThreadCpu = (): { all: number; user: number } => {
  const r = mustReadProc(process.pid, process.pid);
  return { all: r.cpuSeconds, user: r.cpuSeconds - r.systemSeconds };
};

const NO_HANDLER: SocketHandler = { onMessage() {}, onDrain() {}, onPong() {}, onPing() {}, onClose() {} };
const sockets: Array<{ ws: UwsWebSocket<UwsUserData>; adapter: UwsSocket; other: UwsSocket | undefined }> = [];
const uws = loadUws().uws;
const app = uws.App().ws<UwsUserData>('/*', {
  maxPayloadLength: 64 * 1024,
  idleTimeout: 0,
  maxBackpressure: 64 * 1024 * 1024,
  closeOnBackpressureLimit: false,
  sendPingsAutomatically: false,
  maxLifetime: 0,
  compression: 0,
  upgrade: (res, req, context) => res.upgrade({ request: undefined, context: undefined, adapter: undefined, batch: false }, req.getHeader('sec-websocket-key'), '', '', context),
  open: (ws) => {
    const adapter = new UwsSocket(ws, '', { highWaterMark: 64 * 1024, maxPayloadBytes: 64 * 1024, compress: false, batchMax: 0, topics: undefined, corkBytes: UWS_CORK_BYTES });
    adapter.attach(NO_HANDLER);
    ws.getUserData().adapter = adapter;
    const other = Other === undefined ? undefined : new Other(ws, '', { highWaterMark: 64 * 1024, maxPayloadBytes: 64 * 1024, compress: false, batchMax: 0, topics: undefined, corkBytes: UWS_CORK_BYTES });
    other?.attach(NO_HANDLER);
    if (PUBLISH) (ws as unknown as { subscribe(topic: string): boolean }).subscribe('t');
    sockets.push({ ws, adapter, other });
  },
  message: () => {},
  drain: (ws) => ws.getUserData().adapter?.drained(),
  ping: () => {},
  pong: () => {},
  close: (ws, code) => ws.getUserData().adapter?.closedBy(code, '', undefined),
});
const port = await new Promise<number>((resolve, reject) => app.listen('127.0.0.1', 0, (token) => (token ? resolve(uws.us_socket_local_port(token)) : reject(new Error('listen failed')))));

let received = 0;
const clients = new Worker(new URL('./uws-flush-cost-clients.mjs', import.meta.url), { workerData: { port, connections: CONNECTIONS } });
clients.on('message', (n: number) => (received = n));
await until(() => sockets.length === CONNECTIONS, 'clients connected', 60_000);

const frame = Buffer.alloc(SIZE, 0x61);
const topics = app as unknown as { publish(topic: string, message: Buffer, isBinary: boolean): boolean };
/** What the per-turn check of an exact fast path found: subscribers over the high-water mark. */
let over = 0;
const publishTurn = (): void => {
  for (let i = 0; i < FRAMES; i++) topics.publish('t', frame, false);
};
type Mode = 'adapter' | 'other' | 'bare' | 'publish' | 'publish+check' | 'publish-corked';
const writeTurn = (mode: Mode): void => {
  if (mode === 'adapter') {
    for (const { adapter } of sockets) for (let i = 0; i < FRAMES; i++) adapter.sendPrepared(frame);
  } else if (mode === 'other') {
    for (const { other } of sockets) for (let i = 0; i < FRAMES; i++) other!.sendPrepared(frame);
  } else if (mode === 'publish') {
    setImmediate(publishTurn);
  } else if (mode === 'publish+check') {
    setImmediate(() => {
      for (const { ws } of sockets) if (ws.getBufferedAmount() >= 64 * 1024) over++;
      publishTurn();
    });
  } else if (mode === 'publish-corked') {
    sockets[0]!.ws.cork(publishTurn);
  } else {
    setImmediate(() => {
      for (const { ws } of sockets) for (let i = 0; i < FRAMES; i++) ws.send(frame, false, false);
    });
  }
};

/** Main-thread CPU µs per delivery, all and user only. */
async function measure(mode: Mode): Promise<{ all: number; user: number }> {
  const expected = received + CONNECTIONS * FRAMES * TURNS_PER_SECOND * SECONDS;
  const cpu0 = mainThreadCpu();
  let turns = 0;
  const timer = setInterval(() => {
    if (turns++ < TURNS_PER_SECOND * SECONDS) writeTurn(mode);
  }, 1000 / TURNS_PER_SECOND);
  await until(() => turns >= TURNS_PER_SECOND * SECONDS, 'turns written', (SECONDS + 30) * 1000);
  clearInterval(timer);
  await until(() => received >= expected, 'frames received', 30_000);
  const cpu1 = mainThreadCpu();
  const deliveries = CONNECTIONS * FRAMES * TURNS_PER_SECOND * SECONDS;
  return { all: ((cpu1.all - cpu0.all) * 1e6) / deliveries, user: ((cpu1.user - cpu0.user) * 1e6) / deliveries };
}

console.log(`uws flush cost: ${CONNECTIONS} connections × ${FRAMES} frame(s) of ${SIZE} B per turn, ${TURNS_PER_SECOND} turns/s, ${SECONDS} s per mode, ${ROUNDS} rounds`);
for (let round = 1; round <= ROUNDS; round++) {
  const load = loadavg()[0]!.toFixed(1);
  const other = Other === undefined ? undefined : await measure('other');
  const adapter = await measure('adapter');
  const bare = await measure('bare');
  if (other !== undefined) console.log(`round ${round}: ${OTHER}'s adapter ${other.all.toFixed(2)} µs (user ${other.user.toFixed(2)}), ÷ bare ${(other.all / bare.all).toFixed(2)}`);
  if (PUBLISH) {
    const parts: string[] = [];
    for (const m of ['publish', 'publish+check', 'publish-corked'] as const) {
      const c = await measure(m);
      parts.push(`${m} ${c.all.toFixed(2)} µs (user ${c.user.toFixed(2)}, ÷ adapter ${(c.all / adapter.all).toFixed(2)})`);
    }
    console.log(`round ${round}: ${parts.join(', ')}; subscribers over the mark at the checks: ${over}`);
  }
  console.log(`round ${round}: adapter ${adapter.all.toFixed(2)} µs (user ${adapter.user.toFixed(2)}), bare ws.send ${bare.all.toFixed(2)} µs (user ${bare.user.toFixed(2)}) per delivery (main thread CPU), adapter ÷ bare ${(adapter.all / bare.all).toFixed(2)}, load ${load}`);
}
await clients.terminate();
process.exit(0);
