import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../devkit/until.js';
import { clientFrame, WireClient } from '../../devkit/wire-client.js';
import { CLOSE } from '../../src/protocol/close-codes.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { TRANSPORTS, type TransportName } from '../helpers/transports.js';

const MAX = 1024;
const PING_REQUEST = '{"op":"ping"}';

/** A client frame of `payload` (`length` may lie about it), final and masked unless told otherwise; `rsv`: the RSV bits (4 = RSV1). */
function frame(payload: Buffer | string, opcode: number, { fin = true, rsv = 0, masked = true } = {}): Buffer {
  const bytes = clientFrame(payload, opcode);
  bytes[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  if (masked) return bytes;
  // Without the mask bit and the (zero) mask key: the payload follows the length.
  const head = bytes.length - (typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length);
  bytes[1]! &= 0x7f;
  return Buffer.concat([bytes.subarray(0, head - 4), bytes.subarray(head)]);
}

interface Violation {
  readonly name: string;
  readonly bytes: Buffer[];
  /** The peer answers neither the server's pings nor its close frame (it ends the connection at once). */
  readonly careless?: boolean;
  /** What the peer receives on each transport: the close code (1006: no close frame; 1005: one without a code) and its reason. */
  readonly peer: Partial<Record<TransportName, readonly [number, string]>>;
  /**
   * The server cannot tell this close from a peer's own (uWS drops the connection without a word,
   * or answers the peer's own close frame): not counted as a close by the server, logged as uWS
   * reported it. Otherwise the close is counted once, under the code the peer received.
   */
  readonly uncounted?: readonly TransportName[];
  /** uWS reports 1006 to the server where the peer receives an empty close frame (1005): logged as 1006. */
  readonly loggedAs?: Partial<Record<TransportName, number>>;
}

const dropped = [1006, ''] as const;
const VIOLATIONS: Violation[] = [
  // uWS reads the 4 bytes after the length as the mask key whatever the mask bit says: it waits for the bytes the frame lacks,
  // which the peer's next frame (here its pong) brings, and the garbage is then not UTF-8.
  { name: 'an unmasked frame', bytes: [frame(PING_REQUEST, 1, { masked: false })], peer: { ws: [1002, ''], uws: dropped } },
  { name: 'an unmasked frame, then masked ones', bytes: [frame(PING_REQUEST, 1, { masked: false }), ...Array.from({ length: 4 }, () => frame(PING_REQUEST, 1))], peer: { ws: [1002, ''], uws: dropped } },
  { name: 'a frame one byte over maxPayloadBytes', bytes: [frame('x'.repeat(MAX + 1), 1)], peer: { ws: [1009, ''], uws: [1009, CLOSE.message_too_big.reason] } },
  { name: 'a frame of 3 x maxPayloadBytes', bytes: [frame('x'.repeat(3 * MAX), 1)], peer: { ws: [1009, ''], uws: dropped } },
  { name: 'a message over maxPayloadBytes in small fragments', bytes: [frame('[', 1, { fin: false }), ...Array.from({ length: MAX + 1 }, () => frame(' ', 0, { fin: false })), frame(']', 0)], peer: { ws: [1009, ''], uws: [1009, CLOSE.message_too_big.reason] } },
  // uWS takes the empty message (and answers it with an error frame): nothing closes.
  { name: 'a message in more fragments than ws buffers (16,384), each empty', bytes: [frame('', 1, { fin: false }), ...Array.from({ length: 16_384 }, () => frame('', 0, { fin: false })), frame('', 0)], peer: { ws: [1008, ''] } },
  { name: 'a text frame of invalid UTF-8', bytes: [frame(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 1)], peer: { ws: [1007, ''], uws: dropped } },
  { name: 'invalid UTF-8 split across fragments', bytes: [frame(Buffer.from([0x7b, 0xe2]), 1, { fin: false }), frame(Buffer.from([0x28, 0x7d]), 0)], peer: { ws: [1007, ''], uws: dropped } },
  { name: 'a reserved opcode', bytes: [frame('', 3)], peer: { ws: [1002, ''], uws: dropped }, uncounted: ['uws'] },
  { name: 'a reserved control opcode', bytes: [frame('', 0xb)], peer: { ws: [1002, ''], uws: dropped }, uncounted: ['uws'] },
  { name: 'a fragmented ping', bytes: [frame('', 9, { fin: false })], peer: { ws: [1002, ''], uws: dropped }, uncounted: ['uws'] },
  { name: 'a ping of 126 bytes', bytes: [frame('p'.repeat(126), 9)], peer: { ws: [1002, ''], uws: dropped }, uncounted: ['uws'] },
  { name: 'RSV1 set without an extension', bytes: [frame('{}', 1, { rsv: 4 })], peer: { ws: [1002, ''], uws: dropped }, uncounted: ['uws'] },
  { name: 'RSV2 set on a ping', bytes: [frame('', 9, { rsv: 2 })], peer: { ws: [1002, ''], uws: dropped }, uncounted: ['uws'] },
  { name: 'a continuation frame with no message begun', bytes: [frame('x', 0)], peer: { ws: [1002, ''], uws: dropped }, uncounted: ['uws'] },
  { name: 'a text frame inside a fragmented message', bytes: [frame('ab', 1, { fin: false }), frame('cd', 1)], peer: { ws: [1002, ''], uws: dropped }, uncounted: ['uws'] },
  { name: 'a close frame with code 999', bytes: [frame(Buffer.from([0x03, 0xe7]), 8)], peer: { ws: [1002, ''], uws: [1005, ''] }, uncounted: ['uws'], loggedAs: { uws: 1006 } },
  { name: 'a close frame with code 1005', bytes: [frame(Buffer.from([0x03, 0xed]), 8)], peer: { ws: [1002, ''], uws: [1005, ''] }, uncounted: ['uws'], loggedAs: { uws: 1006 } },
  { name: 'a close frame with a reason of invalid UTF-8', bytes: [frame(Buffer.from([0x03, 0xe8, 0xff]), 8)], peer: { ws: [1007, ''], uws: [1005, ''] }, uncounted: ['uws'], loggedAs: { uws: 1006 } },
  { name: 'a close frame of one byte', bytes: [frame(Buffer.from([0x03]), 8)], peer: { ws: [1002, ''], uws: [1005, ''] }, uncounted: ['uws'] },
  { name: 'no pong, and the server\'s close left unanswered', bytes: [], careless: true, peer: { ws: [4103, CLOSE.idle_timeout.reason], uws: [4103, CLOSE.idle_timeout.reason] } },
  {
    name: 'invalid requests past the strikes, the server\'s close left unanswered',
    bytes: Array.from({ length: 3 }, () => frame('not json', 1)),
    careless: true,
    peer: { ws: [4000, CLOSE.bad_protocol.reason], uws: [4000, CLOSE.bad_protocol.reason] },
  },
];

/**
 * issue 12 item 5: every close code the server puts on the wire is in the catalogue and
 * docs/protocol.md, and the log line and `sluice_disconnects_total` say what the peer received
 * (the transport's own diagnosis of a broken frame goes in the log line's `fault`).
 */
describe.each(TRANSPORTS)('close accounting over protocol violations [%s]', (transport) => {
  let gw: TestGateway;
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });

  beforeAll(async () => {
    const overrides = { limits: { maxPayloadBytes: MAX }, inbound: { invalidFrameStrikes: 2 }, heartbeat: { intervalMs: 100, idleTimeoutMs: 300 }, log: { level: 'info' as const } };
    gw = await startGateway(overrides, transport, undefined, pino({ level: 'info' }, sink));
  });
  afterAll(() => gw.stop());

  it.each(VIOLATIONS.filter((v) => v.peer[transport] !== undefined))('$name', async (violation) => {
    const before = new Map(gw.gateway.stats.closesByCode);
    const closes = (): Array<Record<string, unknown>> => lines.filter((l) => l.msg === 'connection closed');
    const logged = closes().length;
    const { code, reason } = await new Promise<{ code: number; reason: string }>((resolve) => {
      const wire: WireClient = new WireClient({
        onOpen: () => {
          for (const bytes of violation.bytes) wire.sendFrames(bytes);
        },
        onFrame() {},
        onClose: (received) => resolve({ code: received, reason: wire.closeReason }),
      });
      wire.echoClose = wire.answerPings = violation.careless !== true;
      wire.connect(new URL(gw.url), '/', 5000);
    });
    expect([code, reason]).toEqual(violation.peer[transport]);
    expect(Object.values(CLOSE).map((entry) => entry.code), `close code ${code} is not in the catalogue`).toContain(code);

    await until(() => closes().length > logged, 'the close logged');
    const line = closes()[logged]!;
    expect({ code: line.code, reason: line.reason }).toEqual({ code: violation.loggedAs?.[transport] ?? code, reason });
    const counted = [...gw.gateway.stats.closesByCode].filter(([c, n]) => n !== (before.get(c) ?? 0)).map(([c, n]) => [c, n - (before.get(c) ?? 0)]);
    expect(counted).toEqual(violation.uncounted?.includes(transport) === true ? [] : [[code, 1]]);
  });
});
