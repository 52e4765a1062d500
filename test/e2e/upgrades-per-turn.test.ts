import { connect, type Socket } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { until } from '../../devkit/until.js';
import { UpgradeGate } from '../../src/auth/upgrade-gate.js';
import { Connections } from '../../src/session/connections.js';
import { gatewayHarness } from '../helpers/harness.js';
import { TRANSPORTS } from '../helpers/transports.js';

const PER_TURN = 3;
const CLIENTS = 40;

function upgradeRequest(i: number): string {
  const key = Buffer.from(`upgrade-turns-${String(i).padStart(2, '0')}`).toString('base64');
  return `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
}

/** Resolves with the status line the server answered on `socket`. */
function statusOf(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n');
      if (end >= 0) resolve(head.slice(0, end));
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed before an answer: ${JSON.stringify(head)}`)));
  });
}

describe.each(TRANSPORTS)('upgrades per event-loop turn [%s]', (transport) => {
  const h = gatewayHarness(transport);

  /**
   * CLIENTS upgrade requests completed in one go; returns the upgrades decided per loop turn. The
   * gateway's clock moves `msPerUpgrade` per connection the transport completes (on top of real time).
   */
  async function upgradeAll(limits: { upgradesPerTurn?: number; upgradeMsPerTurn?: number }, msPerUpgrade = 0): Promise<number[]> {
    let offset = 0;
    const gw = await h.start({ limits }, () => performance.now() + offset);
    // Loop turns, counted in this process (the gateway runs in it): one setImmediate per turn.
    let turn = 0;
    let ticking = true;
    const tick = (): void => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const decidedIn: number[] = [];
    const { decide } = UpgradeGate.prototype;
    vi.spyOn(UpgradeGate.prototype, 'decide').mockImplementation(function (this: UpgradeGate, request) {
      decidedIn.push(turn);
      return decide.call(this, request);
    });
    const { accept } = Connections.prototype;
    vi.spyOn(Connections.prototype, 'accept').mockImplementation(function (this: Connections, ...args) {
      offset += msPerUpgrade;
      return accept.apply(this, args);
    });
    const sockets: Socket[] = [];
    try {
      const port = Number(new URL(gw.url).port);
      for (let i = 0; i < CLIENTS; i++) sockets.push(connect(port, '127.0.0.1'));
      await Promise.all(sockets.map((s) => new Promise((resolve) => s.once('connect', resolve))));
      const answers = sockets.map(statusOf);
      // Every request but its last byte, then (the gateway having read those) the last bytes in one
      // go: the gateway completes the heads in the same turn.
      sockets.forEach((s, i) => s.write(upgradeRequest(i).slice(0, -1)));
      const from = turn;
      await until(() => turn > from + 20, 'the gateway to read the heads');
      for (const s of sockets) s.write('\n');
      const statuses = await Promise.all(answers);
      expect(statuses.every((s) => s.startsWith('HTTP/1.1 101'))).toBe(true);
      expect(decidedIn).toHaveLength(CLIENTS);
      await until(() => gw.gateway.connectionCount === CLIENTS, 'every connection open');
    } finally {
      ticking = false;
      vi.restoreAllMocks();
      for (const s of sockets) s.destroy();
    }
    const perTurn = new Map<number, number>();
    for (const t of decidedIn) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
    return [...perTurn.values()];
  }

  it('decides and completes at most limits.upgradesPerTurn upgrades per turn; the rest wait and all complete', async () => {
    const perTurn = await upgradeAll({ upgradesPerTurn: PER_TURN, upgradeMsPerTurn: 0 });
    expect(Math.max(...perTurn)).toBeLessThanOrEqual(PER_TURN);
  });

  it('decides and completes upgrades for at most limits.upgradeMsPerTurn per turn, completions of waiting ones timed too', async () => {
    // 1 ms per upgrade against 3 ms a turn: its time's worth, plus the few between two clock reads
    // and the first completion of a turn's waiting ones (util/work-meter.ts, session/upgrade-turns.ts).
    const perTurn = await upgradeAll({ upgradesPerTurn: 0, upgradeMsPerTurn: 3 }, 1);
    expect(Math.max(...perTurn)).toBeLessThanOrEqual(3 + 3 + 1);
    expect(perTurn.length).toBeGreaterThan(3);
  });
});
