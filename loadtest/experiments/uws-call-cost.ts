/**
 * What one call into uWS.js costs from JavaScript, on one real connection (its client in this
 * process, reading): `ws.cork(callback)` with an empty callback (the way into C++ and back into
 * JS that each cork-sized run pays), `ws.send` of a 1 KiB frame inside a cork (framing and the
 * copy into uWS's cork buffer; the `sendto` at the cork's end is not timed), and
 * `ws.getBufferedAmount()`, and `ws.subscribe` + `ws.unsubscribe` of a topic while the socket stays in
 * another one (what moving a socket onto uWS's own fan-out and off it again would cost). Wall-clock
 * ns per call, each round after a pause for the client to read.
 *
 *   npx tsx loadtest/experiments/uws-call-cost.ts [rounds=3]
 *
 * Bounded: ≤ 10 rounds of 200,000 corks, 2,000 runs of 15 sends, 200,000 reads and 200,000 topic moves.
 */
import { loadavg } from 'node:os';
import WebSocket from 'ws';
import { loadUws } from '../../src/transport/uws-loader.js';
import type { UwsWebSocket } from '../../src/transport/uws-api.js';

const ROUNDS = Math.min(Number(process.argv[2] ?? 3), 10);
const CALLS = 200_000;
const RUNS = 2000;
const RUN_FRAMES = 15;

const uws = loadUws().uws;
let socket: UwsWebSocket<unknown> | undefined;
const app = uws.App().ws<unknown>('/*', {
  compression: 0,
  maxPayloadLength: 64 * 1024,
  maxBackpressure: 1 << 30,
  closeOnBackpressureLimit: false,
  sendPingsAutomatically: false,
  maxLifetime: 0,
  idleTimeout: 0,
  upgrade: (res, req, context) => res.upgrade({}, req.getHeader('sec-websocket-key'), '', '', context),
  open: (ws) => {
    socket = ws;
  },
  message: () => {},
  drain: () => {},
  ping: () => {},
  pong: () => {},
  close: () => {},
});
const port = await new Promise<number>((resolve, reject) => app.listen('127.0.0.1', 0, (token) => (token ? resolve(uws.us_socket_local_port(token)) : reject(new Error('listen failed')))));
const client = new WebSocket(`ws://127.0.0.1:${port}/`);
client.on('message', () => {});
await new Promise((resolve) => client.once('open', resolve));
await new Promise((resolve) => setTimeout(resolve, 100));
const ws = socket!;
const topics = ws as unknown as { subscribe(topic: string): boolean; unsubscribe(topic: string): boolean };
// Its own topic keeps the socket a uWS subscriber, so that leaving 't' never frees it (and what it has pending).
topics.subscribe('own');
const frame = Buffer.alloc(1024, 0x61);
const empty = (): void => {};
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

for (let round = 1; round <= ROUNDS; round++) {
  let t = performance.now();
  for (let i = 0; i < CALLS; i++) ws.cork(empty);
  const cork = ((performance.now() - t) * 1e6) / CALLS;
  let inside = 0;
  const run = (): void => {
    const t0 = performance.now();
    for (let j = 0; j < RUN_FRAMES; j++) ws.send(frame, false, false);
    inside += performance.now() - t0;
  };
  for (let i = 0; i < RUNS; i++) {
    ws.cork(run);
    // Lets the client read, so that uWS never holds backpressure (which would change the path).
    if (i % 50 === 49) await pause(5);
  }
  const send = (inside * 1e6) / (RUNS * RUN_FRAMES);
  t = performance.now();
  for (let i = 0; i < CALLS; i++) ws.getBufferedAmount();
  const buffered = ((performance.now() - t) * 1e6) / CALLS;
  t = performance.now();
  for (let i = 0; i < CALLS; i++) {
    topics.subscribe('t');
    topics.unsubscribe('t');
  }
  const move = ((performance.now() - t) * 1e6) / CALLS;
  console.log(`round ${round}: cork(empty) ${cork.toFixed(0)} ns, send of 1 KiB inside a cork ${send.toFixed(0)} ns, getBufferedAmount ${buffered.toFixed(0)} ns, subscribe + unsubscribe ${move.toFixed(0)} ns, backpressure left ${ws.getBufferedAmount()}, load ${loadavg()[0]!.toFixed(1)}`);
  await pause(500);
}
client.terminate();
process.exit(0);
