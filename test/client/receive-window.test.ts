import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { createClient, type ClientOptions, type SluiceClient } from '../../src/client/client.js';
import { ServerError } from '../../src/client/errors.js';
import { encodedLength, textBytes } from '../../src/client/receive-window.js';
import type { WebSocketConstructor } from '../../src/client/transport.js';
import type { Connection } from '../../src/session/connection.js';
import type { TestGateway } from '../helpers/gateway.js';
import { TRANSPORTS } from '../helpers/transports.js';
import { collector, harness, nextEvent, scriptedWebSocket, type ScriptedSocket } from './support.js';

/**
 * The client's receive window (option `receiveWindowBytes`; docs/protocol.md, `window`, `recv`):
 * asked for first on every connection, counted from its ack exactly as the server counts what it
 * writes (every event's UTF-8 bytes plus one), reported every half window.
 */

const bytes = (text: string) => Buffer.byteLength(text) + 1;
const json = (frame: Record<string, unknown>) => JSON.stringify(frame);

/** Resolves with the next frame `socket` sends with that `op`. */
function sent(socket: ScriptedSocket, op: string): Promise<Record<string, any>> {
  const send = socket.send.bind(socket);
  return new Promise((resolve) => {
    socket.send = (data: string) => {
      send(data);
      const frame = JSON.parse(data) as Record<string, any>;
      if (frame.op !== op) return;
      socket.send = send;
      resolve(frame);
    };
  });
}

describe('receive window (scripted server)', () => {
  const h = harness();

  async function connect(window = 1000, hello: Record<string, unknown> = { ev: 'hello', conn: 'c1' }) {
    const ws = scriptedWebSocket();
    const client = h.client('ws://127.0.0.1:1', { WebSocket: ws.Impl, receiveWindowBytes: window, reconnect: { initialDelayMs: 0 } });
    const sub = client.subscribe('feed.x');
    const socket = await ws.next();
    socket.receive(hello);
    return { ws, client, sub, socket };
  }

  it('asks for the window before resubscribing; counts from its ack (the ack included, each event of a batch frame + 1, not what came before it); reports every half window, exactly', async () => {
    const { client, socket } = await connect();
    expect(socket.sent.map((f) => f.op)).toEqual(['window', 'sub']);
    const [ask, sub] = socket.sent as [Record<string, any>, Record<string, any>];
    expect(ask).toEqual({ op: 'window', bytes: 1000, id: ask.id });
    expect(client.receiveWindow).toBeUndefined();
    // A batch frame: an event before the ack (not counted), the ack, the sub's ack.
    (socket as { protocol?: string }).protocol = 'sluice.batch';
    const before = json({ ev: 'pong' });
    const ack = json({ ev: 'ack', id: ask.id, window: 1000 });
    const subAck = json({ ev: 'ack', id: sub.id, ch: 'feed.x', epoch: 'e1', seq: 0 });
    socket.onmessage!({ data: [before, ack, subAck].join('\n') });
    let total = bytes(ack) + bytes(subAck);
    expect(client.receiveWindow).toEqual({ bytes: 1000, received: total, reported: 0 });
    // Non-ASCII messages, one per frame then two in one frame, until the total passes half the window.
    const reported = sent(socket, 'recv');
    let seq = 0;
    const msg = (at: number) => json({ ev: 'msg', ch: 'feed.x', seq: at, data: { t: 'é€😀'.repeat(10) } });
    // One per frame while two more stay below half the window...
    while (total + bytes(msg(seq + 1)) + bytes(msg(seq + 2)) < 500) {
      const one = msg(++seq);
      socket.onmessage!({ data: one });
      total += bytes(one);
    }
    expect(socket.requests('recv')).toEqual([]);
    // ...then two in one frame reach it.
    const pair = [msg(++seq), msg(++seq)];
    socket.onmessage!({ data: pair.join('\n') });
    total += bytes(pair[0]!) + bytes(pair[1]!);
    expect(await reported).toEqual({ op: 'recv', bytes: total });
    expect(client.receiveWindow).toEqual({ bytes: 1000, received: total, reported: total });
  });

  it('after a reconnect asks again and counts from the new ack only', async () => {
    const { ws, client, socket } = await connect();
    const ack = json({ ev: 'ack', id: socket.sent[0]!.id, window: 1000 });
    socket.onmessage!({ data: ack });
    socket.receive({ ev: 'pong' });
    expect(client.receiveWindow?.received).toBe(bytes(ack) + bytes(json({ ev: 'pong' })));
    socket.closeWith(1006);
    expect(client.receiveWindow).toBeUndefined();
    const next = await ws.next();
    next.receive({ ev: 'hello', conn: 'c2' });
    expect(next.sent.map((f) => f.op)).toEqual(['window', 'sub']);
    expect(client.receiveWindow).toBeUndefined();
    const again = json({ ev: 'ack', id: next.sent[0]!.id, window: 2000 });
    next.onmessage!({ data: again });
    expect(client.receiveWindow).toEqual({ bytes: 2000, received: bytes(again), reported: 0 });
  });

  it('a bad_window answer is an error event; the connection goes on without a window', async () => {
    const { client, sub, socket } = await connect();
    const errors: unknown[] = [];
    client.on('error', ({ error }) => errors.push(error));
    const [ask, subscribe] = socket.sent as [Record<string, any>, Record<string, any>];
    socket.receive({ ev: 'err', id: ask.id, code: 'bad_window', msg: 'window must be 16384 to 16777216 bytes' });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(ServerError);
    expect(errors[0]).toMatchObject({ code: 'bad_window' });
    socket.receive({ ev: 'ack', id: subscribe.id, ch: 'feed.x', epoch: 'e1', seq: 0 });
    await sub.ready;
    for (let seq = 1; seq <= 100; seq++) socket.receive({ ev: 'msg', ch: 'feed.x', seq, data: 'x'.repeat(50) });
    expect(client.receiveWindow).toBeUndefined();
    expect(socket.requests('recv')).toEqual([]);
    expect(client.state).toBe('connected');
  });

  it('a report refused for its rate (an id-less rate_limited) is replaced by one of the total after the pause', async () => {
    const limits = { maxPayloadBytes: 65536, maxSubscriptions: 100, messagesPerSecond: 1000, bytesPerSecond: 1 << 20, inboundMode: 'reject' };
    const { client, socket } = await connect(1000, { ev: 'hello', conn: 'c1', limits });
    const errors: unknown[] = [];
    client.on('error', ({ error }) => errors.push(error));
    socket.receive({ ev: 'ack', id: socket.sent[0]!.id, window: 1000 });
    const first = sent(socket, 'recv');
    socket.receive({ ev: 'pong', pad: 'y'.repeat(600) });
    const refused = await first;
    const again = sent(socket, 'recv');
    const refusal = json({ ev: 'err', code: 'rate_limited', msg: 'slow down', retryMs: 1 });
    socket.onmessage!({ data: refusal });
    // The total when the refusal arrived (the server took nothing of the refused one; the refusal itself counts after).
    expect(await again).toEqual({ op: 'recv', bytes: refused.bytes });
    expect(client.receiveWindow).toMatchObject({ received: refused.bytes + bytes(refusal), reported: refused.bytes });
    expect(errors).toEqual([]);
  });

  it('refuses a receiveWindowBytes that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => createClient('ws://127.0.0.1:1', { receiveWindowBytes: bad, WebSocket: scriptedWebSocket().Impl })).toThrow(RangeError);
  });
});

describe('UTF-8 count of a received frame', () => {
  it('equals the encoded length, with Node Buffer and without (TextEncoder into a fixed scratch, in pieces past it)', () => {
    const pieces = ['a', 'é', '€', '😀', '\u0000', '\u07ff', '\u0800', '\uffff', '"', '\\n'];
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const texts = ['', 'ascii only', 'a'.repeat(16 * 1024), 'a'.repeat(16 * 1024 - 1) + '😀' + 'b', '€'.repeat(5462), '😀'.repeat(4097) + 'z'];
    for (let i = 0; i < 200; i++) {
      const length = Math.floor(random() * (i % 10 === 0 ? 70_000 : 300));
      texts.push(Array.from({ length }, () => pieces[Math.floor(random() * pieces.length)]).join(''));
    }
    for (const text of texts) {
      expect(encodedLength(text)).toBe(Buffer.byteLength(text));
      expect(textBytes(text)).toBe(Buffer.byteLength(text));
    }
  });
});

/** A `ws` WebSocket that records the ops each of its instances sent, in order. */
function recordingSends(): { Impl: WebSocketConstructor; sockets: { ws: WebSocket; ops: string[] }[] } {
  const sockets: { ws: WebSocket; ops: string[] }[] = [];
  class Recording extends WebSocket {
    constructor(url: string, protocols?: string | string[], options?: WebSocket.ClientOptions) {
      super(url, protocols, options);
      const ops: string[] = [];
      sockets.push({ ws: this, ops });
      const send = this.send.bind(this);
      this.send = ((data: string) => {
        ops.push((JSON.parse(data) as { op: string }).op);
        send(data);
      }) as typeof this.send;
    }
  }
  return { Impl: Recording as unknown as WebSocketConstructor, sockets };
}

/** The gateway's connection of a client (by `hello.conn`). */
function connectionOf(gw: TestGateway, conn: string): Connection {
  const found = gw.gateway.connectionList().find((c) => c.id === conn);
  if (found === undefined) throw new Error(`no connection ${conn}`);
  return found;
}

/**
 * The server's count and the client's agree: after a ping's answer (it went out after every
 * earlier report and came back after every earlier frame) what the server wrote since the ack is
 * what the client received, and the client's latest report is the server's.
 */
async function expectCountsAgree(client: SluiceClient, conn: Connection): Promise<void> {
  await client.query({ op: 'ping' });
  const server = conn.writer.receiveWindow!;
  const mine = client.receiveWindow!;
  expect(mine.received).toBe(server.sent);
  expect(mine.reported).toBe(server.reported);
  expect(mine.bytes).toBe(server.bytes);
}

const WINDOW = 16 * 1024;
/** Messages whose text has 1-, 2-, 3- and 4-byte characters. */
const data = (i: number) => JSON.stringify({ i, t: `n°${i} — prix 12 € 😀 ` + 'é'.repeat(i % 300) });
const seqs = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe.each(TRANSPORTS)('receive window end to end [%s]', (transport) => {
  const h = harness(transport);
  const quiet = { inbound: { messagesPerSecond: 0, bytesPerSecond: 0 } };
  /** Room for everything published at once: nothing shed while the window holds it. */
  const roomy = { maxQueueBytes: 64 * 1024 * 1024, maxQueueMessages: 100_000, softQueueBytes: 0 };

  /** A client with a window (WINDOW unless `options` says), subscribed to `channel`: what it receives and its `error` events. */
  async function windowed(gw: TestGateway, channel: string, options: ClientOptions = {}) {
    const client = h.client(gw.url, { receiveWindowBytes: WINDOW, ...options });
    const errors: unknown[] = [];
    client.on('error', ({ error }) => errors.push(error));
    const { conn } = await nextEvent(client, 'connected');
    const got = collector();
    const values: unknown[] = [];
    await client.subscribe(channel, { onMessage: (m) => (values.push(m.data), got.onMessage(m)), onGap: got.onGap }).ready;
    return { client, errors, conn, got, values };
  }

  it('a subscriber with a window gets every message whole and in order; its reports are what the server wrote', async () => {
    const N = 300;
    const gw = await h.gateway(quiet);
    const { client, errors, conn, got, values } = await windowed(gw, 'feed.a', { receiveWindowBytes: 64 * 1024 });
    const publisher = h.client(gw.url, { publishBuffer: { maxInFlight: 64, maxMessages: N } });
    await Promise.all(Array.from({ length: N }, (_, i) => publisher.publish('feed.a', JSON.parse(data(i)))));
    await got.until(N);
    expect(got.gaps).toEqual([]);
    expect(got.seqs).toEqual(seqs(N));
    expect(values).toEqual(Array.from({ length: N }, (_, i) => JSON.parse(data(i))));
    await expectCountsAgree(client, connectionOf(gw, conn));
    expect(client.receiveWindow!.reported).toBeGreaterThan(0);
    expect(errors).toEqual([]);
  });

  for (const batch of [true, false]) {
    it(`a 16 KiB window and far more than it published at once: the flow goes on only on exact reports (non-ASCII, batch ${batch})`, async () => {
      const N = 1500;
      const gw = await h.gateway({ ...quiet, outbound: { ...roomy, minReceiveWindowBytes: WINDOW }, channels: [{ pattern: 'feed.*', policy: 'drop-oldest', historySize: 0 }] });
      const { client, errors, conn, got } = await windowed(gw, 'feed.b', { batch });
      let bytesPublished = 0;
      for (let i = 0; i < N; i++) {
        const text = data(i);
        bytesPublished += Buffer.byteLength(text);
        await gw.gateway.hub.publish('feed.b', undefined, text);
      }
      expect(bytesPublished).toBeGreaterThan(20 * WINDOW);
      await got.until(N);
      expect(got.gaps).toEqual([]);
      expect(got.seqs).toEqual(seqs(N));
      // The window held data back (the server waited for reports), and nothing went wrong with them.
      expect(gw.gateway.stats.windowWaits).toBeGreaterThan(0);
      expect(errors).toEqual([]);
      await expectCountsAgree(client, connectionOf(gw, conn));
    });
  }

  it('after the server drops the connection the window is asked again first and counted from the new ack', async () => {
    // History: what is published before the resubscription is replayed by the resume, within the new window.
    const gw = await h.gateway({ ...quiet, outbound: { minReceiveWindowBytes: WINDOW }, channels: [{ pattern: 'feed.*', policy: 'drop-oldest', historySize: 1000 }] });
    const ws = recordingSends();
    const { client, errors, conn: first, got } = await windowed(gw, 'feed.c', { WebSocket: ws.Impl, reconnect: { initialDelayMs: 1 } });
    for (let i = 0; i < 100; i++) await gw.gateway.hub.publish('feed.c', undefined, data(i));
    await got.until(100);
    await expectCountsAgree(client, connectionOf(gw, first));
    expect(client.receiveWindow!.received).toBeGreaterThan(WINDOW);
    const reconnected = nextEvent(client, 'connected');
    connectionOf(gw, first).close('slow_consumer');
    const second = (await reconnected).conn;
    expect(second).not.toBe(first);
    expect(ws.sockets).toHaveLength(2);
    expect(ws.sockets[1]!.ops.slice(0, 2)).toEqual(['window', 'sub']);
    for (let i = 100; i < 400; i++) await gw.gateway.hub.publish('feed.c', undefined, data(i));
    await got.until(400);
    expect(got.gaps).toEqual([]);
    expect(got.seqs).toEqual(seqs(400));
    // Counted from the new ack: the new connection's count, not the old one plus it.
    await expectCountsAgree(client, connectionOf(gw, second));
    expect(errors).toEqual([]);
  });

  it('reports refused for the inbound rate are made again after the pause; the stream goes on', async () => {
    const N = 80;
    const gw = await h.gateway({ inbound: { messagesPerSecond: 5, messagesBurst: 2, bytesPerSecond: 0 }, outbound: { ...roomy, minReceiveWindowBytes: WINDOW } });
    const { client, errors, conn, got } = await windowed(gw, 'feed.d');
    const rateLimitedBefore = gw.gateway.stats.rateLimited;
    for (let i = 0; i < N; i++) await gw.gateway.hub.publish('feed.d', undefined, JSON.stringify({ i, pad: 'ü'.repeat(400) }));
    await got.until(N);
    expect(got.gaps).toEqual([]);
    expect(got.seqs).toEqual(seqs(N));
    expect(gw.gateway.stats.rateLimited).toBeGreaterThan(rateLimitedBefore);
    expect(client.state).toBe('connected');
    expect(connectionOf(gw, conn).writer.receiveWindow!.reported).toBeGreaterThan(0);
    expect(errors).toEqual([]);
  });
});
