/**
 * Baseline: a raw `ws` broadcast server. Connections on /sub receive every message any /pub
 * connection sends. argv[2] picks the strategy:
 *   send    ws.send() per subscriber (the library frames each copy and writes it at once);
 *   framed  the message framed once (ws's Sender.frame) and written to each subscriber's TCP socket,
 *           corked until the end of the loop turn so several messages go out in one write;
 *   batch   as framed, but a subscriber that offered `sluice.batch` gets the turn's messages joined
 *           by 0x0A in one frame (framed once, at most BATCH_MAX_BYTES of payload), as Sluice's batch
 *           frames are: the cheapest sender of batch frames, for the generator's ceiling.
 * No queue bounds, no policies: what a hand-written gateway does before flow control.
 */
import type { Socket } from 'node:net';
import * as wsModule from 'ws';
import { WebSocketServer, type WebSocket } from 'ws';

const Sender = (wsModule as unknown as { Sender: { frame(data: Buffer, options: Record<string, unknown>): Buffer[] } }).Sender;
const mode = process.argv[2] === 'framed' || process.argv[2] === 'batch' ? process.argv[2] : 'send';
const BATCH_PROTOCOL = 'sluice.batch';
const BATCH_MAX_BYTES = 65536;
const NEWLINE = Buffer.from('\n');
const subs = new Set<WebSocket>();
/** Batch mode: the turn's messages, and the subscribers that take batch frames. */
const turn: Buffer[] = [];
const batchSubs = new Set<WebSocket>();
const corked: Socket[] = [];
const uncorkAll = (): void => {
  for (const s of corked) s.uncork();
  corked.length = 0;
};

const textFrame = (data: Buffer): Buffer => {
  const parts = Sender.frame(data, { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false });
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
};

function writeCorked(to: Iterable<WebSocket>, frame: Buffer): void {
  for (const ws of to) {
    const raw = (ws as unknown as { _socket: Socket })._socket;
    if (raw.writableCorked === 0) {
      raw.cork();
      if (corked.push(raw) === 1) process.nextTick(uncorkAll);
    }
    raw.write(frame);
  }
}

function broadcast(data: Buffer): void {
  if (mode === 'send') {
    for (const ws of subs) ws.send(data, { binary: false });
    return;
  }
  if (subs.size > 0) writeCorked(subs, textFrame(data));
  if (mode === 'batch' && turn.push(data) === 1) setImmediate(flushTurn);
}

/** The turn's messages to the batch subscribers: joined by 0x0A, each joined payload framed once. */
function flushTurn(): void {
  let from = 0;
  let bytes = 0;
  for (let i = 0; i <= turn.length; i++) {
    const next = turn[i];
    if (i > from && (next === undefined || bytes + 1 + next.length > BATCH_MAX_BYTES)) {
      const parts = turn.slice(from, i).flatMap((b, j) => (j === 0 ? [b] : [NEWLINE, b]));
      writeCorked(batchSubs, textFrame(Buffer.concat(parts)));
      from = i;
      bytes = 0;
    }
    if (next !== undefined) bytes += (bytes === 0 ? 0 : 1) + next.length;
  }
  turn.length = 0;
}

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: Number(process.env.PORT),
  perMessageDeflate: false,
  clientTracking: false,
  maxPayload: 64 * 1024,
  handleProtocols: (offered) => (mode === 'batch' && offered.has(BATCH_PROTOCOL) ? BATCH_PROTOCOL : false),
});
wss.on('connection', (ws, req) => {
  ws.on('error', () => ws.terminate());
  if (req.url?.startsWith('/sub')) {
    const set = ws.protocol === BATCH_PROTOCOL ? batchSubs : subs;
    set.add(ws);
    ws.on('close', () => set.delete(ws));
  } else {
    ws.on('message', (data: Buffer) => broadcast(data));
  }
});
process.on('SIGTERM', () => process.exit(0));
