import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { isWindowAck, ReceiveWindow, WINDOW_ID } from '../../devkit/receive-window.js';
import { BATCH_PROTOCOL, WireClient } from '../../devkit/wire-client.js';

/**
 * The load tools' receive-window count (docs/protocol.md, "`window`, `recv`"): nothing before the
 * window's ack, then every text frame as its payload's UTF-8 bytes + 1, the ack included, a `recv`
 * each time the total has grown by half the window; and, through the raw wire client that hands a
 * batch frame on event by event, the same total as the server's own count of the frames it wrote.
 */

const frame = (text: string): [Buffer, number, number] => {
  // The payload sits inside a larger buffer, as the wire client's read buffer holds it.
  const bytes = Buffer.from(`##${text}##`);
  return [bytes, 2, bytes.length - 2];
};

function windowOf(bytes: number): { window: ReceiveWindow; sent: string[]; counts: { windowAcks: number; recvSent: number } } {
  const sent: string[] = [];
  const counts = { windowAcks: 0, recvSent: 0 };
  return { window: new ReceiveWindow(bytes, (t) => sent.push(t), counts), sent, counts };
}

describe('receive window count', () => {
  it('asks with the id "w" and recognises its ack only', () => {
    const { window } = windowOf(16384);
    expect(JSON.parse(window.request)).toEqual({ op: 'window', bytes: 16384, id: WINDOW_ID });
    expect(isWindowAck(...frame('{"ev":"ack","id":"w","window":16384}'))).toBe(true);
    expect(isWindowAck(...frame('{"ev":"ack","id":"w2","window":16384}'))).toBe(false);
    expect(isWindowAck(...frame('{"ev":"ack","id":1,"ch":"a","seq":3}'))).toBe(false);
    expect(isWindowAck(...frame('{"ev":"err","id":"w","code":"bad_window"}'))).toBe(false);
    expect(isWindowAck(...frame('{"ev":"ack","id":"w"'))).toBe(false);
    expect(() => new ReceiveWindow(0, () => {})).toThrow();
  });

  it('counts nothing before the ack, then the ack and every frame as its bytes + 1, multibyte text by its UTF-8 bytes', () => {
    const { window, sent, counts } = windowOf(1 << 20);
    window.frame(...frame('{"ev":"hello","conn":"c1"}'));
    window.frame(...frame('{"ev":"msg","ch":"a","seq":1,"data":1}'));
    expect(window.open).toBe(false);
    expect(window.counted).toBe(0);
    const ack = '{"ev":"ack","id":"w","window":1048576}';
    window.frame(...frame(ack));
    expect(window.open).toBe(true);
    expect(window.counted).toBe(ack.length + 1);
    // "é" is 2 bytes, "€" 3, "😀" 4 (2 UTF-16 units): the count is of bytes, not characters.
    const text = '{"ev":"msg","ch":"a","seq":2,"data":"é€😀"}';
    window.frame(...frame(text));
    expect(Buffer.byteLength(text)).toBe(text.length + 1 + 2 + 2);
    expect(window.counted).toBe(ack.length + 1 + Buffer.byteLength(text) + 1);
    // An empty event (two separators in a row) is still a byte: its separator.
    window.frame(...frame(''));
    expect(window.counted).toBe(ack.length + 1 + Buffer.byteLength(text) + 1 + 1);
    expect(sent).toEqual([]);
    expect(counts).toEqual({ windowAcks: 1, recvSent: 0 });
  });

  it('counts a batch frame fed event by event as its payload + 1, the same as the events one per frame', () => {
    const events = ['{"ev":"msg","ch":"a","seq":1,"data":"ü"}', '{"ev":"msg","ch":"a","seq":2,"data":"x"}', '{"ev":"gap","ch":"a","from":3,"to":3,"n":1,"reason":"dropped"}'];
    const batch = Buffer.from(events.join('\n'));
    const { window } = windowOf(1 << 20);
    window.frame(...frame('{"ev":"ack","id":"w","window":1048576}'));
    const before = window.counted;
    let from = 0;
    for (;;) {
      const nl = batch.indexOf(0x0a, from);
      window.frame(batch, from, nl < 0 ? batch.length : nl);
      if (nl < 0) break;
      from = nl + 1;
    }
    expect(window.counted - before).toBe(batch.length + 1);
    expect(window.counted - before).toBe(events.reduce((n, e) => n + Buffer.byteLength(e) + 1, 0));
  });

  it('reports its running total each time it has grown by half the window, and nothing once stopped', () => {
    const { window, sent, counts } = windowOf(1000);
    const ack = '{"ev":"ack","id":"w","window":1000}';
    window.frame(...frame(ack));
    const msg = `{"ev":"msg","ch":"a","seq":1,"data":"${'x'.repeat(200 - 40)}"}`;
    expect(msg.length).toBe(199);
    const totals: number[] = [];
    let total = ack.length + 1;
    let reported = 0;
    for (let i = 0; i < 12; i++) {
      window.frame(...frame(msg));
      total += 200;
      if (total - reported >= 500) totals.push((reported = total));
    }
    expect(sent.map((s) => JSON.parse(s) as unknown)).toEqual(totals.map((bytes) => ({ op: 'recv', bytes })));
    expect(sent.length).toBeGreaterThanOrEqual(4);
    expect(counts.recvSent).toBe(sent.length);
    expect(window.lastReport).toBe(totals.at(-1));
    window.stop();
    for (let i = 0; i < 12; i++) window.frame(...frame(msg));
    expect(sent.length).toBe(totals.length);
    expect(window.counted).toBe(total + 12 * 200);
  });
});

/**
 * A tiny server that counts as the protocol's server does: from the ack it writes (included) every
 * text frame's payload bytes + 1. Frames are sent back to back (some share reads, the large ones
 * straddle them), as batch frames to a client that offered `sluice.batch` and one event per frame
 * otherwise; every `recv` the client sends is checked against what was written by then.
 */
const W = 16384;
const payload = (i: number, size: number): string => `{"ev":"msg","ch":"a","seq":${i},"data":{"p":"${'ü€x'.repeat(size)}","t":${i}.5}}`;
/** Events per frame: singles, small batches, and one batch larger than the wire client's 256 KiB read buffer. */
const FRAMES: string[][] = [
  ...Array.from({ length: 30 }, (_, i) => [payload(i, 10)]),
  ...Array.from({ length: 20 }, (_, i) => [payload(100 + 3 * i, 50), payload(101 + 3 * i, 5), payload(102 + 3 * i, 200)]),
  Array.from({ length: 150 }, (_, i) => payload(1000 + i, 400)),
  ...Array.from({ length: 40 }, (_, i) => [payload(2000 + i, 300)]),
];

interface Served {
  written: number;
  reports: number[];
  /** A report above what was written by then, or below an earlier one (the server's `bad_window`). */
  bad: string[];
}

let wss: WebSocketServer;
let url: URL;
const served: Served[] = [];

beforeAll(async () => {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (offered) => (offered.has(BATCH_PROTOCOL) ? BATCH_PROTOCOL : false) });
  wss.on('connection', (ws: WebSocket) => {
    const batched = ws.protocol === BATCH_PROTOCOL;
    const s: Served = { written: 0, reports: [], bad: [] };
    served.push(s);
    let counting = false;
    const send = (text: string): void => {
      ws.send(text, { binary: false });
      if (counting) s.written += Buffer.byteLength(text) + 1;
    };
    // Before the window: not counted.
    send('{"ev":"hello","conn":"c1"}');
    ws.on('message', (data) => {
      const req = JSON.parse(String(data)) as { op: string; bytes: number; id?: string };
      if (req.op === 'window') {
        counting = true;
        send(`{"ev":"ack","id":${JSON.stringify(req.id)},"window":${req.bytes}}`);
        for (const events of FRAMES) {
          if (batched) send(events.join('\n'));
          else for (const e of events) send(e);
        }
        ws.close(1000);
      } else if (req.op === 'recv') {
        if (req.bytes > s.written || req.bytes < (s.reports.at(-1) ?? 0)) s.bad.push(`recv ${req.bytes} with ${s.written} written`);
        s.reports.push(req.bytes);
      }
    });
  });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  url = new URL(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`);
});

afterAll(() => new Promise<void>((resolve) => wss.close(() => resolve())));

/** Connects (offering `protocols`), asks for a window of W at the hello, counts every frame, and resolves at the server's close. */
function run(protocols: string[]): Promise<{ window: ReceiveWindow; frames: number }> {
  return new Promise((resolve) => {
    const counts = { frames: 0 };
    let window: ReceiveWindow | undefined;
    const wire: WireClient = new WireClient(
      {
        onOpen() {
          window = new ReceiveWindow(W, (t) => wire.sendText(t));
        },
        onFrame(buf, start, end) {
          if (!window!.open && buf.toString('utf8', start, end).startsWith('{"ev":"hello"')) wire.sendText(window!.request);
          window!.frame(buf, start, end);
        },
        onClose() {
          resolve({ window: window!, frames: counts.frames });
        },
      },
      counts,
    );
    wire.connect(url, '/', 5000, protocols);
  });
}

describe('receive window count through the raw wire client', () => {
  it.each([
    ['batch frames', [BATCH_PROTOCOL]],
    ['one event per frame', []],
  ])('%s: the client counts exactly what the server wrote from its ack on, and reports within it', async (_, protocols) => {
    const { window, frames } = await run(protocols);
    const s = served.at(-1)!;
    const events = FRAMES.flat().length;
    expect(frames).toBe(1 + 1 + (protocols.length > 0 ? FRAMES.length : events));
    expect(window.counted).toBe(s.written);
    expect(s.written).toBeGreaterThan(20 * W);
    expect(s.bad).toEqual([]);
    // Reports that reached the server before its close: each at least half a window past the one before.
    expect(s.reports.length).toBeGreaterThan(0);
    for (let i = 1; i < s.reports.length; i++) expect(s.reports[i]! - s.reports[i - 1]!).toBeGreaterThanOrEqual(W / 2);
  });
});
