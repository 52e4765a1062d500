import { describe, expect, it, vi } from 'vitest';
import { until } from '../../devkit/until.js';
import { clientFrame } from '../../devkit/wire-client.js';
import { Connection } from '../../src/session/connection.js';
import { RequestGate } from '../../src/session/request-gate.js';
import { WorkMeter } from '../../src/util/work-meter.js';
import { gatewayHarness } from '../helpers/harness.js';
import { TRANSPORTS } from '../helpers/transports.js';

const SHARE = 8;
const FLOOD = 300;

/**
 * Records 'parsed' for each frame `conn` received from the transport (handled or not) and 'turn'
 * for each turn the round robin hands on, in `events`; undone by `vi.restoreAllMocks()`.
 */
function recordParsedAndTurns(conn: Connection | undefined, events: string[]): void {
  const { onMessage } = Connection.prototype;
  const { continueTurn } = RequestGate.prototype;
  vi.spyOn(Connection.prototype, 'onMessage').mockImplementation(function (this: Connection, data, isBinary) {
    if (this === conn) events.push('parsed');
    onMessage.call(this, data, isBinary);
  });
  vi.spyOn(RequestGate.prototype, 'continueTurn').mockImplementation(function (this: RequestGate) {
    events.push('turn');
    continueTurn.call(this);
  });
}

describe.each(TRANSPORTS)('frames per connection per event-loop turn [%s]', (transport) => {
  const h = gatewayHarness(transport);

  it('a flooder handles at most limits.framesPerTurn frames per turn, in order, and a bystander is answered within a round', async () => {
    const gw = await h.start({ limits: { framesPerTurn: SHARE }, inbound: { messagesPerSecond: 0, bytesPerSecond: 0 } });
    const flooder = await h.connect();
    const bystander = await h.connect();
    await flooder.next((f) => f.ev === 'hello');
    await bystander.next((f) => f.ev === 'hello');
    const [floodConn] = gw.gateway.connectionList();
    // What the gateway handles, and the turns the round robin hands on, in the order they happen.
    const events: string[] = [];
    let firstFlood: () => void = () => {};
    const flooding = new Promise<void>((resolve) => (firstFlood = resolve));
    const { handle, answerPing, onPing } = Connection.prototype;
    vi.spyOn(Connection.prototype, 'handle').mockImplementation(function (this: Connection, data, isBinary) {
      events.push(this === floodConn ? 'flood' : 'bystander');
      firstFlood();
      return handle.call(this, data, isBinary);
    });
    vi.spyOn(Connection.prototype, 'answerPing').mockImplementation(function (this: Connection, payload) {
      events.push(this === floodConn ? 'flood' : 'bystander');
      answerPing.call(this, payload);
    });
    // Frames the transport parsed and delivered, handled or not.
    recordParsedAndTurns(floodConn, events);
    vi.spyOn(Connection.prototype, 'onPing').mockImplementation(function (this: Connection, payload, bytes) {
      if (this === floodConn) events.push('parsed');
      onPing.call(this, payload, bytes);
    });
    try {
      const wsPongs: string[] = [];
      flooder.ws.on('pong', (p: Buffer) => wsPongs.push(p.toString()));
      // Requests with a WebSocket ping every tenth frame, in one write: the gateway reads them at once.
      const frames: Buffer[] = [];
      for (let i = 0; i < FLOOD; i++) frames.push(i % 10 === 9 ? clientFrame(`w${i}`, 0x9) : clientFrame(`{"op":"ping","id":${i}}`));
      flooder.tcp.write(Buffer.concat(frames));
      await flooding;
      bystander.tcp.write(clientFrame('{"op":"ping","id":"by"}'));
      const requests = Array.from({ length: FLOOD }, (_, i) => i).filter((i) => i % 10 !== 9);
      const pongs = await flooder.waitForCount((f) => f.ev === 'pong', requests.length);
      expect(pongs.map((p) => p.id)).toEqual(requests);
      expect((await bystander.next((f) => f.ev === 'pong')).id).toBe('by');
      // Pings past a share are answered with the latest one (RFC 6455 §5.5.3): the last is always answered.
      await until(() => wsPongs.at(-1) === `w${FLOOD - 1}`, 'the latest ping answered');
      expect(flooder.frames.filter((f) => f.ev === 'err')).toEqual([]);
      expect(bystander.frames.filter((f) => f.ev === 'err')).toEqual([]);
      if (transport === 'uws') return; // uWS cannot stop reading: no share (docs/transports.md).
      const perTurn = events.join(' ').split('turn').map((run) => run.split('flood').length - 1);
      expect(Math.max(...perTurn)).toBeLessThanOrEqual(SHARE);
      // Once stopped, the rest of the read is parsed up to a share at once, then a frame per turn.
      const parsedPerTurn = events.join(' ').split('turn').map((run) => run.split('parsed').length - 1);
      expect(Math.max(...parsedPerTurn)).toBeLessThanOrEqual(2 * SHARE + 1);
      // The bystander's request came after a few of the flooder's shares, not after its backlog.
      expect(events.indexOf('bystander')).toBeLessThan(FLOOD / 3);
      expect(gw.gateway.stats.readPauses.frames_per_turn).toBeGreaterThanOrEqual(FLOOD / 10 / SHARE);
    } finally {
      vi.restoreAllMocks();
    }
  });
});

describe('a fast publisher past its share [ws]', () => {
  const h = gatewayHarness('ws');

  it('the rest of its read, up to a share, is parsed in the turn it arrived and handled in its next share', async () => {
    const gw = await h.start({ limits: { framesPerTurn: SHARE }, inbound: { messagesPerSecond: 0, bytesPerSecond: 0 } });
    const publisher = await h.connect();
    await publisher.next((f) => f.ev === 'hello');
    const [conn] = gw.gateway.connectionList();
    const events: string[] = [];
    recordParsedAndTurns(conn, events);
    try {
      // Two shares in one write, as a publisher at a high rate sends them: one read.
      const frames = Array.from({ length: 2 * SHARE }, (_, i) => clientFrame(`{"op":"ping","id":${i}}`));
      publisher.tcp.write(Buffer.concat(frames));
      const pongs = await publisher.waitForCount((f) => f.ev === 'pong', 2 * SHARE);
      expect(pongs.map((p) => p.id)).toEqual(Array.from({ length: 2 * SHARE }, (_, i) => i));
      // Deferring the parse to a frame per turn would hand it one publication per turn from here on.
      expect(events.indexOf('turn')).toBe(2 * SHARE);
    } finally {
      vi.restoreAllMocks();
    }
  });
});

describe.each(TRANSPORTS)('the turn’s time for all connections together [%s]', (transport) => {
  const h = gatewayHarness(transport);
  const FLOODERS = 4;
  const MS = 8;

  /**
   * Frames handled per turn while several flooders each send more than a share: the gateway's
   * clock moves 1 ms per frame handled (on top of real time), so `limits.inboundMsPerTurn` is
   * `MS` frames' worth.
   */
  async function flood(inboundMsPerTurn: number) {
    let offset = 0;
    const gw = await h.start({ limits: { inboundMsPerTurn }, inbound: { messagesPerSecond: 0, bytesPerSecond: 0 } }, () => performance.now() + offset);
    const flooders = [];
    for (let i = 0; i < FLOODERS; i++) flooders.push(await h.connect());
    const bystander = await h.connect();
    for (const c of [...flooders, bystander]) await c.next((f) => f.ev === 'hello');
    const conns = gw.gateway.connectionList();
    const bystanderConn = conns.at(-1);
    const events: string[] = [];
    let firstFlood: () => void = () => {};
    const flooding = new Promise<void>((resolve) => (firstFlood = resolve));
    const { handle } = Connection.prototype;
    const { renew } = WorkMeter.prototype;
    const handled = vi.spyOn(Connection.prototype, 'handle').mockImplementation(function (this: Connection, data, isBinary) {
      offset += 1;
      events.push(this === bystanderConn ? 'bystander' : `f${conns.indexOf(this)}`);
      if (this !== bystanderConn) firstFlood();
      return handle.call(this, data, isBinary);
    });
    const turns = vi.spyOn(WorkMeter.prototype, 'renew').mockImplementation(function (this: WorkMeter) {
      events.push('turn');
      renew.call(this);
    });
    try {
      for (const [n, c] of flooders.entries()) c.tcp.write(Buffer.concat(Array.from({ length: FLOOD }, (_, i) => clientFrame(`{"op":"ping","id":"${n}.${i}"}`))));
      await flooding;
      bystander.tcp.write(clientFrame('{"op":"ping","id":"by"}'));
      for (const [n, c] of flooders.entries()) {
        const pongs = await c.waitForCount((f) => f.ev === 'pong', FLOOD);
        expect(pongs.map((p) => p.id)).toEqual(Array.from({ length: FLOOD }, (_, i) => `${n}.${i}`));
        expect(c.frames.filter((f) => f.ev === 'err')).toEqual([]);
      }
      expect((await bystander.next((f) => f.ev === 'pong')).id).toBe('by');
      // Turns in which more than one flooder took frames: the bound is for the others, so the first
      // flooder read, alone until the others' frames come, takes its share in the first turn.
      const runs = events.join(' ').split('turn').slice(1).map((run) => run.split(' ').filter((e) => e.startsWith('f')));
      const perTurn = runs.filter((run) => new Set(run).size > 1).map((run) => run.length);
      return { runs: runs.map((run) => run.length), perTurn, bystanderAt: events.indexOf('bystander'), pauses: gw.gateway.stats.readPauses.inbound_ms_per_turn };
    } finally {
      handled.mockRestore();
      turns.mockRestore();
    }
  }

  it('flooders together handle about limits.inboundMsPerTurn of frames per turn, each in order, and a bystander is answered ahead of their backlog', async () => {
    const { runs, perTurn, bystanderAt, pauses } = await flood(MS);
    expect(pauses).toBeGreaterThan(0);
    if (transport === 'uws') {
      // uWS delivers each flooder's whole write in the turn it is read, and has no share (docs/transports.md): the
      // first flooder, alone until the others' frames come, has all of its frames; then, with several taking frames,
      // what is past the turn's time is held, and the held frames go on a turn's time at a time (the last flooder
      // left alone, unbounded).
      expect(runs.filter((n) => n > MS + 4 + FLOODERS).length).toBeLessThanOrEqual(1);
      expect(runs.length).toBeGreaterThan(FLOOD / 64);
      expect(bystanderAt).toBeLessThan((FLOODERS * FLOOD) / 2);
      return;
    }
    // The meter reads the clock every few frames, and a connection's first frame of a turn is never refused for time.
    expect(Math.max(...perTurn)).toBeLessThanOrEqual(MS + 4 + FLOODERS);
    // So the backlog took many turns (a few without the bound: one share each per turn).
    expect(perTurn.length).toBeGreaterThan(FLOOD / 64);
    expect(bystanderAt).toBeLessThan((FLOODERS * FLOOD) / 4);
  });

  it('0: only each connection’s share bounds a turn', async () => {
    const { perTurn, bystanderAt, pauses } = await flood(0);
    expect(pauses).toBe(0);
    // uWS, without a share: every frame is handled in the turn it is read, the bystander's after the flood.
    if (transport === 'uws') expect(bystanderAt).toBe(FLOODERS * FLOOD);
    else expect(Math.max(...perTurn)).toBeGreaterThan(MS + 4 + FLOODERS);
  });
});
