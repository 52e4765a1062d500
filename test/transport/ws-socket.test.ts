import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { SocketHandler } from '../../src/net/socket.js';
import { frameText, type WsFrame } from '../../src/transport/ws-frames.js';
import { adapt, type WsSocket } from '../../src/transport/ws-socket.js';

/** Counts the writes the adapter hands its TCP socket (one per `write` or `writev` call into libuv). */
function countWrites(raw: Socket): { writes: number } {
  const count = { writes: 0 };
  const socket = raw as unknown as Record<'_write' | '_writev', (...args: unknown[]) => void>;
  for (const method of ['_write', '_writev'] as const) {
    const original = socket[method].bind(raw);
    socket[method] = (...args: unknown[]) => {
      count.writes++;
      original(...args);
    };
  }
  return count;
}

class Handler implements SocketHandler {
  drains = 0;
  onMessage(): void {}
  onDrain(): void {
    this.drains++;
  }
  onPong(): void {}
  onPing(): void {}
  onClose(): void {}
}

const prepared = (text: string): WsFrame => {
  const payload = Buffer.from(text);
  return { payload, framed: frameText(payload) };
};
const turnEnd = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ws socket adapter: writes per turn', () => {
  let server: WebSocketServer | undefined;
  let client: WebSocket | undefined;
  afterEach(async () => {
    client?.terminate();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  });

  /** A server-side adapter and the client connected to it, with every message the client receives. */
  async function connect(highWaterMark: number, batchMax = 0, perMessageDeflate = false): Promise<{ socket: WsSocket; raw: Socket; received: string[]; handler: Handler }> {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate });
    await new Promise((resolve) => server!.once('listening', resolve));
    const accepted = new Promise<WebSocket>((resolve) => server!.once('connection', resolve));
    client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const received: string[] = [];
    client.on('message', (data: Buffer) => received.push(data.toString()));
    client.on('pong', (data: Buffer) => received.push(`pong ${data.toString()}`));
    const ws = await accepted;
    await new Promise((resolve) => (client!.readyState === WebSocket.OPEN ? resolve(undefined) : client!.once('open', resolve)));
    const socket = adapt(ws, '127.0.0.1', highWaterMark, 0, batchMax);
    const handler = new Handler();
    socket.handler = handler;
    return { socket, raw: (ws as unknown as { _socket: Socket })._socket, received, handler };
  }

  const until = async (check: () => boolean): Promise<void> => {
    while (!check()) await new Promise((resolve) => client!.once('message', resolve));
  };

  it('what several corked batches of one turn hold goes to the socket in one write, in order', async () => {
    const { socket, raw, received } = await connect(65536);
    const count = countWrites(raw);
    // Two batches in one turn, as two reads (or two shares of a publisher's frames) make them.
    socket.cork();
    for (let i = 0; i < 5; i++) expect(socket.sendPrepared(prepared(`a${i}`))).toBe(true);
    socket.uncork();
    await new Promise<void>((resolve) =>
      process.nextTick(() => {
        socket.cork();
        for (let i = 0; i < 3; i++) socket.sendText(`b${i}`);
        socket.uncork();
        resolve();
      }),
    );
    expect(count.writes).toBe(0);
    expect(socket.bufferedAmount()).toBeGreaterThan(0);
    await turnEnd();
    expect(count.writes).toBe(1);
    await until(() => received.length === 8);
    expect(received).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'b0', 'b1', 'b2']);
  });

  it.each([false, true])('with sluice.batch a turn goes out joined by \\n in frames of at most batchMax bytes, each pong in its place (compression %s)', async (compress) => {
    const { socket, raw, received } = await connect(65536, 8, compress);
    const count = countWrites(raw);
    socket.cork();
    socket.sendPrepared(prepared('a1'));
    socket.sendPrepared(prepared('a2'));
    socket.sendText('t3');
    socket.sendPong(Buffer.from('p'));
    socket.sendPrepared(prepared('long-event'));
    socket.sendPrepared(prepared('b1'));
    socket.uncork();
    expect(received).toEqual([]);
    await turnEnd();
    if (!compress) expect(count.writes).toBe(1);
    await until(() => received.length === 4);
    expect(received).toEqual(['a1\na2\nt3', 'pong p', 'long-event', 'b1']);
  });

  it('with sluice.batch, sockets sharing a turn of several batch frames each get them in one write, in order', async () => {
    const first = await connect(65536, 8);
    const firstClient = client!;
    const firstServer = server!;
    try {
      const second = await connect(65536, 8);
      const counts = [countWrites(first.raw), countWrites(second.raw)];
      const events = ['a1', 'a2', 'a3', 'long-event', 'b1'].map(prepared);
      for (const { socket } of [first, second]) {
        socket.cork();
        for (const event of events) socket.sendPrepared(event);
        socket.uncork();
      }
      await turnEnd();
      expect(counts.map((c) => c.writes)).toEqual([1, 1]);
      await until(() => second.received.length === 3);
      while (first.received.length < 3) await new Promise((resolve) => firstClient.once('message', resolve));
      expect(first.received).toEqual(['a1\na2\na3', 'long-event', 'b1']);
      expect(second.received).toEqual(first.received);
    } finally {
      firstClient.terminate();
      await new Promise((resolve) => firstServer.close(resolve));
    }
  });

  it('a write outside a batch waits behind the batch of the turn', async () => {
    const { socket, received } = await connect(65536);
    socket.cork();
    socket.sendText('first');
    socket.uncork();
    socket.sendText('second');
    await until(() => received.length === 2);
    expect(received).toEqual(['first', 'second']);
  });

  it('a batch goes to the socket before the turn ends once it holds four high-water marks', async () => {
    const mark = 16384;
    const { socket, raw, received } = await connect(mark);
    const count = countWrites(raw);
    const frame = prepared('x'.repeat(8192));
    socket.cork();
    for (let i = 0; i < 10; i++) socket.sendPrepared(frame);
    socket.uncork();
    // 8 frames reach 4 × 16 KiB: they went at once; the other 2 wait for the turn's end.
    expect(count.writes).toBe(1);
    await turnEnd();
    expect(count.writes).toBe(2);
    await until(() => received.length === 10);
  });

  it("what waits for the turn's end goes out before the close frame that answers the peer's close", async () => {
    const { socket, raw, received } = await connect(65536);
    // In the read that carries the peer's close frame, before ws parses it: a batch waits for the turn's end.
    raw.prependOnceListener('data', () => {
      socket.cork();
      socket.sendText('last');
      socket.uncork();
    });
    const closed = new Promise<number>((resolve) => client!.once('close', resolve));
    client!.close(1000);
    expect(await closed).toBe(1000);
    expect(received).toEqual(['last']);
  });

  it('reports false once the kernel refused a high-water mark, and owes a drain', async () => {
    const mark = 16384;
    const { socket, raw, handler } = await connect(mark);
    (client as unknown as { _socket: Socket })._socket.pause();
    const frame = prepared('y'.repeat(16384));
    let accepted = 0;
    // Bounded: the loopback buffers fill within a few MB.
    for (let i = 0; i < 4096; i++) {
      socket.cork();
      const more = socket.sendPrepared(frame);
      socket.uncork();
      await turnEnd();
      accepted++;
      if (!more) break;
    }
    expect(accepted).toBeLessThan(4096);
    expect(raw.writableLength).toBeGreaterThanOrEqual(mark);
    expect(handler.drains).toBe(0);
    (client as unknown as { _socket: Socket })._socket.resume();
    await new Promise((resolve) => raw.once('drain', resolve));
    await turnEnd();
    expect(handler.drains).toBe(1);
  });
});
