/**
 * Baseline: a raw `ws` broadcast server. Connections on /sub receive every message any /pub
 * connection sends. argv[2] picks the strategy:
 *   send    ws.send() per subscriber (the library frames each copy and writes it at once);
 *   framed  the message framed once (ws's Sender.frame) and written to each subscriber's TCP socket,
 *           corked until the end of the loop turn so several messages go out in one write.
 * No queue bounds, no policies: what a hand-written gateway does before flow control.
 */
import type { Socket } from 'node:net';
import * as wsModule from 'ws';
import { WebSocketServer, type WebSocket } from 'ws';

const Sender = (wsModule as unknown as { Sender: { frame(data: Buffer, options: Record<string, unknown>): Buffer[] } }).Sender;
const mode = process.argv[2] === 'framed' ? 'framed' : 'send';
const subs = new Set<WebSocket>();
const corked: Socket[] = [];
const uncorkAll = (): void => {
  for (const s of corked) s.uncork();
  corked.length = 0;
};

function broadcast(data: Buffer): void {
  if (mode === 'send') {
    for (const ws of subs) ws.send(data, { binary: false });
    return;
  }
  const parts = Sender.frame(data, { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false });
  const frame = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  for (const ws of subs) {
    const raw = (ws as unknown as { _socket: Socket })._socket;
    if (raw.writableCorked === 0) {
      raw.cork();
      if (corked.push(raw) === 1) process.nextTick(uncorkAll);
    }
    raw.write(frame);
  }
}

const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(process.env.PORT), perMessageDeflate: false, clientTracking: false, maxPayload: 64 * 1024 });
wss.on('connection', (ws, req) => {
  ws.on('error', () => ws.terminate());
  if (req.url?.startsWith('/sub')) {
    subs.add(ws);
    ws.on('close', () => subs.delete(ws));
  } else {
    ws.on('message', (data: Buffer) => broadcast(data));
  }
});
process.on('SIGTERM', () => process.exit(0));
