import { AttackClient, RawConnection, bump, connectMany, sleep, type AttackTarget, type Tally } from './attack-client.js';
import { pick, type Scale } from './patterns-clients.js';

/**
 * Adversary patterns below the protocol: HTTP requests that trickle or carry bodies nobody asked
 * for, ping floods from peers that never read, and frames that break RFC 6455 or the Sluice
 * protocol. Each is bounded by a count and a deadline.
 */

/** Every HTTP path the gateway serves, and one it does not. */
const PATHS = ['/healthz', '/readyz', '/metrics', '/', '/dashboard', '/dashboard/events', '/api/publish', '/api/publish/batch', '/nope'];

/** Connections that send their request head a byte at a time and never finish it. */
export async function slowloris(t: AttackTarget, s: Scale, tally: Tally): Promise<void> {
  const count = pick(s, 200, 20);
  const heads = [
    'GET /healthz HTTP/1.1\r\nHost: x\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n',
    `POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.apiKey}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n`,
  ];
  const conns = Array.from({ length: count }, (_, i) => {
    const c = new RawConnection(t);
    c.write(heads[i % heads.length]!);
    return c;
  });
  const deadline = Date.now() + s.seconds * 1000;
  for (let tick = 0; Date.now() < deadline && conns.some((c) => !c.closedByServer); tick++) {
    // The POSTs trickle their body, the others an endless header.
    conns.forEach((c, i) => c.write(i % heads.length === 2 ? ' ' : tick % 2 === 0 ? 'X-Slow: ' : 'y\r\n'));
    await sleep(500);
  }
  for (const c of conns) {
    if (c.status !== 0) bump(tally, `http ${c.status}`);
    bump(tally, c.closedByServer ? 'cut by gateway' : 'still open');
    c.destroy();
  }
}

/** A body of about a megabyte to every path, held open (one byte short) while the gateway decides. */
export async function largeBodies(t: AttackTarget, s: Scale, tally: Tally): Promise<void> {
  const perPath = pick(s, 10, 2);
  const size = 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const conns: RawConnection[] = [];
  for (const path of PATHS) {
    for (let i = 0; i < perPath; i++) {
      const c = new RawConnection(t);
      c.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.apiKey}\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`);
      conns.push(c);
    }
  }
  // One byte short of the declared length: a gateway that reads bodies it does not need holds them all.
  const deadline = Date.now() + s.seconds * 1000;
  let remaining = size - 1;
  while (remaining > 0 && Date.now() < deadline) {
    const part = chunk.subarray(0, Math.min(chunk.length, remaining));
    remaining -= part.length;
    for (const c of conns) if (c.status === 0) c.write(part);
    await sleep(5);
  }
  await sleep(pick(s, 2000, 500));
  for (const c of conns) {
    bump(tally, c.status !== 0 ? `http ${c.status}` : c.closedByServer ? 'cut by gateway' : 'held, no answer');
    c.destroy();
  }
}

/** WebSocket pings and `ping` requests from peers that never read the answers. */
export async function pingFlood(t: AttackTarget, s: Scale, tally: Tally): Promise<void> {
  const deadline = Date.now() + s.seconds * 1000;
  const clients = await connectMany(t, tally, pick(s, 20, 4), 20, deadline);
  const perClient = pick(s, 20_000, 2_000);
  const batch = 500;
  const wsPing = frame(0x9, Buffer.alloc(125, 0x70));
  const appPings = Buffer.concat(Array.from({ length: batch }, (_, i) => frame(0x1, Buffer.from(`{"op":"ping","id":${i}}`))));
  const wsPings = Buffer.concat(Array.from({ length: batch }, () => wsPing));
  for (const c of clients) c.stall();
  for (let sent = 0; sent < perClient && Date.now() < deadline; sent += batch) {
    clients.forEach((c, i) => c.sendFrames(i % 2 === 0 ? wsPings : appPings));
    await sleep(20);
  }
  await sleep(500);
  for (const c of clients) {
    if (c.open) bump(tally, 'still open');
    c.end();
  }
}

/** One broken frame per connection, of every kind; the tally says how each was closed. */
export async function protocolViolations(t: AttackTarget, s: Scale, tally: Tally): Promise<void> {
  const deadline = Date.now() + s.seconds * 1000;
  const violations: Array<[string, Buffer]> = [
    ['invalid utf-8', frame(0x1, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))],
    ['reserved opcode', frame(0x3, Buffer.from('{}'))],
    ['continuation first', frame(0x0, Buffer.from('{}'))],
    ['unmasked', frame(0x1, Buffer.from('{"op":"ping"}'), { mask: false })],
    ['rsv1 without extension', frame(0x1, Buffer.from('{"op":"ping"}'), { rsv: 0x40 })],
    ['control frame of 126 bytes', frame(0x9, Buffer.alloc(126, 0x70))],
    ['fragmented ping', frame(0x9, Buffer.from('p'), { fin: false })],
    ['frame above maxPayloadBytes', frame(0x1, Buffer.alloc(200 * 1024, 0x20))],
    ['binary frames', Buffer.concat(Array.from({ length: 12 }, () => frame(0x2, Buffer.from([1, 2, 3]))))],
    ['malformed JSON', Buffer.concat(Array.from({ length: 12 }, () => frame(0x1, Buffer.from('{"op":'))))],
    ['unknown op', Buffer.concat(Array.from({ length: 12 }, () => frame(0x1, Buffer.from('{"op":"boom","id":1}'))))],
    ['bad channel', Buffer.concat(Array.from({ length: 12 }, () => frame(0x1, Buffer.from('{"op":"sub","ch":"no spaces","id":1}'))))],
  ];
  const rounds = pick(s, 10, 1);
  for (let r = 0; r < rounds && Date.now() < deadline; r++) {
    await Promise.all(
      violations.map(async ([name, bytes]) => {
        const own: Tally = {};
        const c = await AttackClient.connect(t, own);
        if (c === undefined) return bump(tally, `${name}: refused`);
        c.sendFrames(bytes);
        await Promise.race([c.closed, sleep(2000)]);
        bump(tally, `${name}: ${c.open ? 'still open' : `close ${c.closeCode}`}`);
        c.end();
      }),
    );
  }
}

/** A client frame with the given opcode; masked with a random-free zero mask unless told otherwise. */
function frame(opcode: number, payload: Buffer, o: { fin?: boolean; rsv?: number; mask?: boolean } = {}): Buffer {
  const len = payload.length;
  const masked = o.mask ?? true;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const out = Buffer.alloc(2 + ext + (masked ? 4 : 0) + len);
  out[0] = ((o.fin ?? true) ? 0x80 : 0) | (o.rsv ?? 0) | opcode;
  out[1] = (masked ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) out.writeUInt16BE(len, 2);
  else if (ext === 8) out.writeBigUInt64BE(BigInt(len), 2);
  payload.copy(out, 2 + ext + (masked ? 4 : 0));
  return out;
}
