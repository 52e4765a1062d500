import { connect as tcpConnect, type Socket } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { until } from '../../devkit/until.js';
import { clientFrame } from '../../devkit/wire-client.js';
import { Connection } from '../../src/session/connection.js';
import type { TestGateway } from '../helpers/gateway.js';
import { gatewayHarness } from '../helpers/harness.js';
import { TRANSPORTS } from '../helpers/transports.js';

describe.each(TRANSPORTS)('inbound flow control [%s]', (transport) => {
  let gw: TestGateway;
  const h = gatewayHarness(transport);
  const connect = h.connect;

  it('rejects frames over the message rate with rate_limited and retryMs, then closes 4101', async () => {
    gw = await h.start({ inbound: { messagesPerSecond: 1, messagesBurst: 5, rateLimitStrikes: 10, strikeWindowMs: 60_000 } });
    const publisher = await connect();
    const watcher = await connect();
    await watcher.subscribe('sensor.d1');
    for (let i = 0; i < 30; i++) publisher.send({ op: 'pub', ch: 'sensor.d1', data: i, id: i });
    expect(await publisher.closed()).toBe(4101);
    const errors = publisher.frames.filter((f) => f.ev === 'err');
    expect(errors.length).toBe(9);
    expect(errors.map((e) => e.id)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13]);
    for (const e of errors) {
      expect(e.code).toBe('rate_limited');
      expect(e.retryMs).toBeGreaterThan(0);
    }
    // Exactly the burst was admitted, and the watcher got exactly those.
    expect(publisher.frames.filter((f) => f.ev === 'ack').map((f) => f.id)).toEqual([0, 1, 2, 3, 4]);
    await watcher.waitForCount((f) => f.ev === 'msg', 5);
    expect(gw.gateway.stats.rateLimited).toBe(10);
    // The watcher is unaffected.
    expect((await watcher.request({ op: 'ping' })).ev).toBe('pong');
  });

  /**
   * A peer writes `count` requests in one write (one read for the gateway) and is closed: its
   * close code, the frames it got, its connection, and how many frames the transport handed on.
   */
  async function floodInOneWrite(count: number) {
    const flooder = await connect();
    await flooder.next((f) => f.ev === 'hello');
    const [conn] = gw.gateway.connectionList();
    let parsed = 0;
    const { onMessage } = Connection.prototype;
    const spy = vi.spyOn(Connection.prototype, 'onMessage').mockImplementation(function (this: Connection, data, isBinary) {
      if (this === conn) parsed++;
      onMessage.call(this, data, isBinary);
    });
    try {
      flooder.tcp.write(Buffer.concat(Array.from({ length: count }, (_, i) => clientFrame(`{"op":"ping","id":${i}}`))));
      const code = await flooder.closed();
      return { code, frames: flooder.frames, conn: conn!, parsed };
    } finally {
      spy.mockRestore();
    }
  }

  it('a peer closed 4101 in the middle of a read: the rest of that read is dropped unparsed', async () => {
    gw = await h.start({ inbound: { messagesPerSecond: 1, messagesBurst: 5, rateLimitStrikes: 3, strikeWindowMs: 60_000 } });
    // 1,000 requests in one read: 5 admitted, 3 refused, closed.
    const { code, frames, parsed } = await floodInOneWrite(1000);
    expect(code).toBe(4101);
    expect(frames.filter((f) => f.ev === 'pong')).toHaveLength(5);
    // Neither transport hands on a message of the read once the connection is closed (uWS's end() stops its parse).
    expect(parsed).toBe(8);
  });

  it('at the default limits, a flooding peer has its burst (250, with what refills meanwhile) admitted, then 20 refusals, and is closed 4101', async () => {
    gw = await h.start();
    // Within the former burst of 2,000, all 1,500 were answered; within the former 500, at least 500.
    const { code, frames, conn, parsed } = await floodInOneWrite(1500);
    expect(code).toBe(4101);
    expect(conn.rateLimited).toBe(20);
    const admitted = parsed - 20;
    expect(admitted).toBeGreaterThanOrEqual(250);
    expect(admitted).toBeLessThan(450);
    expect(frames.filter((f) => f.ev === 'pong').length).toBeLessThanOrEqual(admitted);
    // The 20th refusal closes without an error frame of its own; nothing after it is handed on.
    expect(frames.filter((f) => f.ev === 'err' && f.code === 'rate_limited')).toHaveLength(19);
  });

  it('limits bytes per second as well as messages', async () => {
    gw = await h.start({ limits: { maxPayloadBytes: 4096 }, inbound: { bytesPerSecond: 1, bytesBurst: 10_000, messagesPerSecond: 0 } });
    const publisher = await connect();
    const big = 'y'.repeat(3000);
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await publisher.request({ op: 'pub', ch: 'sensor.big', data: big }));
    expect(replies.map((r) => r.ev)).toEqual(['ack', 'ack', 'ack', 'err']);
    expect(replies[3]).toMatchObject({ code: 'rate_limited' });
  });

  it('counts WebSocket pings against the message rate: a ping flood meets the strikes and 4101', async () => {
    gw = await h.start({ inbound: { messagesPerSecond: 1, messagesBurst: 5, rateLimitStrikes: 10, strikeWindowMs: 60_000 } });
    const pinger = await connect();
    let pongs = 0;
    pinger.ws.on('pong', () => pongs++);
    for (let i = 0; i < 30; i++) pinger.ws.ping(String(i));
    expect(await pinger.closed()).toBe(4101);
    expect(gw.gateway.stats.rateLimited).toBe(10);
    // ws answers the admitted pings only; uWS answers every ping itself, before the core sees it.
    if (transport === 'ws') expect(pongs).toBe(5);
  });

  it.skipIf(transport === 'uws')('answers a peer that pings without reading once, with its latest ping, when it reads again', async () => {
    gw = await h.start({ channels: [{ pattern: 'sensor.*', policy: 'drop-oldest' }], inbound: { messagesPerSecond: 0, bytesPerSecond: 0 } });
    const reader = await connect();
    await reader.subscribe('sensor.flood');
    const conn = gw.gateway.connectionList()[0]!;
    reader.ws.pause();
    const publisher = await connect();
    const data = 'x'.repeat(4096);
    // Until the server's socket to the reader is backed up for good: the kernel's buffers full, so that no
    // drain can come before the reader reads again. A queue of a few messages may only mean that the
    // socket's user-space buffer was not flushed yet (a loaded machine): a drain then writes the owed pong
    // between pings and the peer gets more than one. A quarter MiB queued cannot wait on a flush alone.
    await until(async () => {
      for (let i = 0; i < 50; i++) publisher.send({ op: 'pub', ch: 'sensor.flood', data });
      await publisher.request({ op: 'ping' });
      return conn.writer.queuedBytes >= 256 * 1024;
    }, 'the reader backed up');
    const payloads: string[] = [];
    reader.ws.on('pong', (p: Buffer) => payloads.push(p.toString()));
    // 200 pings in one write, so the server reads them at once (it stops reading at the second one owed).
    reader.tcp.write(Buffer.concat(Array.from({ length: 200 }, (_, i) => clientFrame(`p${i}`, 0x9))));
    await until(() => gw.gateway.stats.readPauses.replies === 1, 'reading stopped');
    reader.send({ op: 'ping', id: 'last' });
    reader.ws.resume();
    await reader.next((f) => f.ev === 'pong' && f.id === 'last', 30_000);
    expect(payloads).toEqual(['p199']);
  });

  it.each([false, true])('abandons a peer closed for abuse (compression %s): close frame and end of stream without waiting for its answer, nothing it sends after is parsed', async (compression) => {
    // No sweep and no handshake timeout within the test: only the close itself may end the stream.
    gw = await h.start({ compression, heartbeat: { intervalMs: 60_000, idleTimeoutMs: 120_000 }, inbound: { messagesPerSecond: 1, messagesBurst: 5, rateLimitStrikes: 3, strikeWindowMs: 60_000 } });
    const { onPing } = Connection.prototype;
    let pingsAfterClose = 0;
    const spy = vi.spyOn(Connection.prototype, 'onPing').mockImplementation(function (this: Connection, payload, bytes) {
      if (this.isClosing) pingsAfterClose++;
      onPing.call(this, payload, bytes);
    });
    try {
      const peer = await rawPeer(gw.url, compression);
      peer.socket.write(Buffer.concat(Array.from({ length: 20 }, (_, i) => clientFrame(`{"op":"ping","id":${i}}`))));
      expect(peer.deflate, 'permessage-deflate negotiated').toBe(compression);
      expect(await peer.closeCode).toBe(4101);
      await until(() => peer.ended, 'the gateway to end the stream without the close handshake');
      // It never answers the close: 200 pings instead, then it ends its side.
      peer.socket.end(Buffer.concat(Array.from({ length: 200 }, () => clientFrame('p', 0x9))));
      await until(() => gw.gateway.connectionCount === 0, 'the gateway to see the end of the peer');
      expect(pingsAfterClose).toBe(0);
      expect(gw.gateway.stats.closesByCode.get(4101)).toBe(1);
    } finally {
      spy.mockRestore();
    }
  });

  it.skipIf(transport === 'uws')('pause mode loses nothing: reading stops until tokens refill', async () => {
    gw = await h.start({ inbound: { mode: 'pause', messagesPerSecond: 2000, messagesBurst: 50 } });
    const subscriber = await connect();
    await subscriber.subscribe('sensor.p');
    const publisher = await connect();
    const total = 600;
    for (let i = 0; i < total; i++) publisher.send({ op: 'pub', ch: 'sensor.p', data: i, id: i });
    const acks = await publisher.waitForCount((f) => f.ev === 'ack', total, 30_000);
    expect(acks.map((a) => a.id)).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(publisher.frames.some((f) => f.ev === 'err')).toBe(false);
    const msgs = await subscriber.waitForCount((f) => f.ev === 'msg', total, 30_000);
    expect(msgs.map((m) => m.data)).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(gw.gateway.stats.inboundPauses).toBeGreaterThan(0);
    expect(gw.gateway.stats.rateLimited).toBe(0);
  });
});

/** A peer on a bare TCP socket that reads the server's close frame and does not answer it. */
async function rawPeer(url: string, deflate: boolean): Promise<{ socket: Socket; closeCode: Promise<number>; readonly ended: boolean; readonly deflate: boolean }> {
  const { hostname, port } = new URL(url);
  const socket = tcpConnect({ host: hostname, port: Number(port), allowHalfOpen: true });
  socket.on('error', () => {});
  let buffered = Buffer.alloc(0);
  let upgraded: () => void;
  let closed: (code: number) => void;
  const open = new Promise<void>((resolve) => (upgraded = resolve));
  const closeCode = new Promise<number>((resolve) => (closed = resolve));
  const peer = { socket, closeCode, ended: false, deflate: false };
  socket.on('end', () => (peer.ended = true));
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    const head = buffered.indexOf('\r\n\r\n');
    if (head >= 0 && buffered.toString('latin1', 0, 12) === 'HTTP/1.1 101') {
      peer.deflate = buffered.toString('latin1', 0, head).includes('permessage-deflate');
      buffered = buffered.subarray(head + 4);
      upgraded();
    }
    // Server frames are unmasked and, here, shorter than 64 KiB.
    while (buffered.length >= 4 && !buffered.toString('latin1', 0, 5).startsWith('HTTP')) {
      const len7 = buffered[1]! & 0x7f;
      const start = len7 === 126 ? 4 : 2;
      const end = start + (len7 === 126 ? buffered.readUInt16BE(2) : len7);
      if (buffered.length < end) break;
      if ((buffered[0]! & 0x0f) === 0x8) closed(buffered.readUInt16BE(start));
      buffered = buffered.subarray(end);
    }
  });
  socket.write(`GET / HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${deflate ? 'Sec-WebSocket-Extensions: permessage-deflate\r\n' : ''}\r\n`);
  await open;
  return peer;
}
