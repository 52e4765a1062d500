import { describe, expect, it, vi } from 'vitest';
import { until } from '../../devkit/until.js';
import { Connection } from '../../src/session/connection.js';
import { Teardowns } from '../../src/session/teardowns.js';
import { gatewayHarness } from '../helpers/harness.js';
import { TRANSPORTS } from '../helpers/transports.js';

const PEERS = 40;
/** `limits.teardownMsPerTurn` in the test: the gateway's clock moves 1 ms per release (on top of real time). */
const MS = 4;
/** Releases past the time a turn may do: those between two reads of the clock (util/work-meter.ts). */
const OVERSHOOT = 3;

describe.each(TRANSPORTS)('closed connections released within limits.teardownMsPerTurn [%s]', (transport) => {
  const h = gatewayHarness(transport);

  /** Closes PEERS subscribed clients at once; returns the releases per turn and the counts seen while some waited. */
  async function closeAll(teardownMsPerTurn: number) {
    let offset = 0;
    const gw = await h.start({ limits: { teardownMsPerTurn } }, () => performance.now() + offset);
    const live = await h.connect();
    await live.subscribe('room');
    const peers = await Promise.all(Array.from({ length: PEERS }, () => h.connect()));
    await Promise.all(peers.map((p) => p.subscribe('room')));
    // Each release, and each turn Teardowns goes on, in the order they happen.
    const events: string[] = [];
    const countsWhileWaiting: number[] = [];
    const { tearDown } = Connection.prototype;
    vi.spyOn(Connection.prototype, 'tearDown').mockImplementation(function (this: Connection) {
      events.push('release');
      offset += 1;
      tearDown.call(this);
    });
    const { continueTurn } = Teardowns.prototype;
    vi.spyOn(Teardowns.prototype, 'continueTurn').mockImplementation(function (this: Teardowns) {
      events.push('turn');
      countsWhileWaiting.push(gw.gateway.connectionCount - 1 - this.pending);
      continueTurn.call(this);
    });
    try {
      for (const p of peers) p.tcp.destroy();
      await until(() => gw.gateway.connectionCount === 1, 'every peer released');
      // The live subscriber still gets what is published, and the slots are all given back.
      const publisher = await h.connect();
      expect((await publisher.request({ op: 'pub', ch: 'room', data: 'after' })).ev).toBe('ack');
      expect((await live.next((f) => f.ev === 'msg' && f.data === 'after')).ch).toBe('room');
      expect(gw.gateway.connectionCount).toBe(2);
      expect(gw.gateway.pendingUpgrades).toBe(0);
    } finally {
      vi.restoreAllMocks();
    }
    const perTurn = events.join(' ').split('turn').map((run) => run.split('release').length - 1);
    return { perTurn, countsWhileWaiting, released: events.filter((e) => e === 'release').length };
  }

  it('many peers leaving at once are released a few at a time per turn, in later turns, each holding its slot until then', async () => {
    const { perTurn, countsWhileWaiting, released } = await closeAll(MS);
    expect(released).toBe(PEERS);
    expect(Math.max(...perTurn)).toBeLessThanOrEqual(MS + OVERSHOOT);
    expect(perTurn.length).toBeGreaterThan(2);
    // Those not yet released still count as open (for limits.maxConnections and admission).
    expect(countsWhileWaiting.length).toBeGreaterThan(0);
    expect(countsWhileWaiting.every((n) => n >= 0)).toBe(true);
  });

  it('0: every closed connection is released at once, none waits for a later turn', async () => {
    const { perTurn, released } = await closeAll(0);
    expect(released).toBe(PEERS);
    expect(perTurn).toEqual([PEERS]);
  });
});
