import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { BATCH_PROTOCOL, WireClient } from '../../devkit/wire-client.js';

/**
 * The load tools' raw client against a tiny server that sends batch frames (events joined by 0x0A
 * in one text frame) to a client that offered `sluice.batch`, and whole frames otherwise: a
 * batching client hands over every event on its own and counts the frame once; events survive a
 * frame split across reads and a frame larger than the read buffer; the bytes after a frame (the
 * next frame's header) are left as they were.
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
