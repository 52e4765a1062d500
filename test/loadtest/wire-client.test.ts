import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { BATCH_PROTOCOL, WireClient } from '../../devkit/wire-client.js';

/**
 * The load tools' raw client against a tiny server that sends batch frames (events joined by 0x0A
 * in one text frame) to a client that offered `sluice.batch`, and whole frames otherwise: a
 * batching client hands over every event on its own and counts the frame once; events survive a
 * frame split across reads and a frame larger than the read buffer; the bytes after a frame (the
 * next frame's header) are left as they were. A batch frame a read cuts short has its events handed
 * on as they complete: cut anywhere (in an event, at a 0x0A, in the next frame's header), every event
 * arrives whole, once, in order.
 */

/** What one server connection sends, in order, as text frames. */
const event = (i: number, size = 20): string => `{"ev":"msg","seq":${i},"data":{"p":"${'x'.repeat(size)}","t":${i}.5}}`;
const small = [[event(1)], [event(2), event(3), event(4)], [event(5), event(6)]];
/** 300 events of ~1 KiB in one frame: larger than the client's 256 KiB read buffer, so carried across reads. */
const large = Array.from({ length: 300 }, (_, i) => event(100 + i, 1000));
const FRAMES = [...small, large, [event(7)], ...Array.from({ length: 50 }, (_, i) => [event(1000 + 2 * i, 500), event(1001 + 2 * i, 500)])];
const EVENTS = FRAMES.flat();

let wss: WebSocketServer;
let url: URL;

beforeAll(async () => {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (offered) => (offered.has(BATCH_PROTOCOL) ? BATCH_PROTOCOL : false) });
  wss.on('connection', (ws: WebSocket) => {
    // Sent back to back, so that frames share reads and some straddle two; a batching server's frames, whatever the client offered.
    ws.ping();
    for (const frame of FRAMES) ws.send(frame.join('\n'), { binary: false });
    ws.send(Buffer.from('a\nb'), { binary: true });
    ws.close(1000);
  });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  url = new URL(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`);
});

afterAll(() => new Promise<void>((resolve) => wss.close(() => resolve())));

/** Connects, offering `protocols`, and collects every payload the handler was given until the server's close. */
function collect(protocols: string[]): Promise<{ payloads: string[]; frames: number; protocol: string | undefined; code: number }> {
  return new Promise((resolve) => {
    const payloads: string[] = [];
    const counts = { frames: 0 };
    const wire: WireClient = new WireClient(
      {
        onOpen() {},
        onFrame(buf, start, end) {
          payloads.push(buf.toString('utf8', start, end));
        },
        onClose(code) {
          resolve({ payloads, frames: counts.frames, protocol: wire.protocol, code });
        },
      },
      counts,
    );
    wire.connect(url, '/', 5000, protocols);
  });
}

describe('wire client: batch frames', () => {
  it('offering sluice.batch, hands over every event of every frame in order and counts each frame once', async () => {
    const got = await collect(['sluice', BATCH_PROTOCOL]);
    expect(got.protocol).toBe(BATCH_PROTOCOL);
    expect(got.code).toBe(1000);
    // Binary frames are never split.
    expect(got.payloads).toEqual([...EVENTS, 'a\nb']);
    expect(got.frames).toBe(FRAMES.length + 1);
  });

  it('without the offer, a frame is one payload, newlines and all', async () => {
    const got = await collect([]);
    expect(got.protocol).toBeUndefined();
    expect(got.payloads).toEqual([...FRAMES.map((f) => f.join('\n')), 'a\nb']);
    expect(got.frames).toBe(FRAMES.length + 1);
  });

  it('a server that selects no subprotocol leaves batching off even when it was offered', async () => {
    const plain = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => false });
    plain.on('connection', (ws: WebSocket) => {
      ws.send('{"a":1}\n{"b":2}');
      ws.close(1000);
    });
    await new Promise<void>((resolve) => plain.once('listening', resolve));
    const port = (plain.address() as AddressInfo).port;
    try {
      const got = await new Promise<string[]>((resolve) => {
        const payloads: string[] = [];
        new WireClient({ onOpen() {}, onFrame: (buf, s, e) => void payloads.push(buf.toString('utf8', s, e)), onClose: () => resolve(payloads) }).connect(new URL(`ws://127.0.0.1:${port}/`), '/', 5000, [BATCH_PROTOCOL]);
      });
      expect(got).toEqual(['{"a":1}\n{"b":2}']);
    } finally {
      await new Promise<void>((resolve) => plain.close(() => resolve()));
    }
  });
});

/** A server frame (unmasked, final, text) of `payload`. */
function serverFrame(payload: string): Buffer {
  const body = Buffer.from(payload);
  const head = body.length < 126 ? Buffer.from([0x81, body.length]) : Buffer.from([0x81, 126, body.length >> 8, body.length & 0xff]);
  return Buffer.concat([head, body]);
}

describe('wire client: a batch frame cut by reads', () => {
  it('hands on every event whole, once and in order, wherever the reads cut the frames', async () => {
    const frames = [Array.from({ length: 40 }, (_, i) => event(i, 90)), [event(40, 3)], Array.from({ length: 9 }, (_, i) => event(41 + i, 700))];
    const bytes = Buffer.concat(frames.map((f) => serverFrame(f.join('\n'))));
    // Cut points at every kind of place: 1-byte pieces inside a header and an event, at a 0x0A, between frames.
    const cuts = [1, 2, 3, 57, 58, 100, 101, 102, 1500, 1501, 3000, 4097, 4101, 4200, bytes.length - 700, bytes.length - 1];
    const server = createServer((socket: Socket) => {
      socket.setNoDelay(true);
      socket.once('data', () => {
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: ${BATCH_PROTOCOL}\r\n\r\n`);
        let at = 0;
        const next = (i: number): void => {
          const end = i < cuts.length ? cuts[i]! : bytes.length;
          socket.write(bytes.subarray(at, end));
          at = end;
          // Each piece after the peer had time to read the one before, so that reads end where the pieces do (most of the time; any cut must do).
          if (end < bytes.length) setTimeout(() => next(i + 1), 5);
          else socket.end(Buffer.from([0x88, 2, 0x03, 0xe8]));
        };
        next(0);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const counts = { frames: 0 };
      const got = await new Promise<string[]>((resolve) => {
        const payloads: string[] = [];
        new WireClient({ onOpen() {}, onFrame: (buf, s, e) => void payloads.push(buf.toString('utf8', s, e)), onClose: () => resolve(payloads) }, counts).connect(new URL(`ws://127.0.0.1:${port}/`), '/', 5000, [BATCH_PROTOCOL]);
      });
      expect(got).toEqual(frames.flat());
      expect(counts.frames).toBe(frames.length);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
