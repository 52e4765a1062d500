import { describe, expect, it, vi } from 'vitest';
import { clientFrame } from '../../devkit/wire-client.js';
import { Hub } from '../../src/hub/hub.js';
import { Connection } from '../../src/session/connection.js';
import { gatewayHarness } from '../helpers/harness.js';
import { TRANSPORTS } from '../helpers/transports.js';

describe.each(TRANSPORTS)('subscribes per event-loop turn [%s]', (transport) => {
  const h = gatewayHarness(transport);

  it('takes at most limits.subscribesPerTurn joins per turn; the rest, and what follows them, go on in order on later turns', async () => {
    const gw = await h.start({ limits: { subscribesPerTurn: 4 } });
    const client = await h.connect();
    await client.next((f) => f.ev === 'hello');
    // Joins, and the turns the allowance hands on, in the order they happen.
    const events: string[] = [];
    const { subscribe } = Hub.prototype;
    const { continueTurn } = Connection.prototype;
    const joins = vi.spyOn(Hub.prototype, 'subscribe').mockImplementation(function (this: Hub, ...args) {
      events.push('join');
      subscribe.apply(this, args);
    });
    const turns = vi.spyOn(Connection.prototype, 'continueTurn').mockImplementation(function (this: Connection) {
      events.push('turn');
      continueTurn.call(this);
    });
    try {
      const requests: object[] = [];
      for (let i = 0; i < 20; i++) requests.push({ op: 'sub', ch: `turns.${i}`, id: i });
      // An unsub and a pub behind the subs: they act after the subs before them, whatever the turn.
      requests.push({ op: 'unsub', ch: 'turns.3', id: 'u3' }, { op: 'pub', ch: 'turns.19', data: 'after', id: 'p' });
      client.tcp.write(Buffer.concat(requests.map((r) => clientFrame(JSON.stringify(r)))));
      const acks = await client.waitForCount((f) => f.ev === 'ack', 22);
      expect(acks.map((a) => a.id)).toEqual([...Array.from({ length: 20 }, (_, i) => i), 'u3', 'p']);
      await client.next((f) => f.ev === 'msg' && f.ch === 'turns.19' && f.data === 'after');
      const perTurn = events.join(' ').split('turn').map((run) => run.split('join').length - 1);
      expect(perTurn.reduce((a, b) => a + b, 0)).toBe(20);
      expect(Math.max(...perTurn)).toBeLessThanOrEqual(4);
      expect(gw.gateway.stats.readPauses.subscribes_per_turn).toBeGreaterThanOrEqual(4);
    } finally {
      joins.mockRestore();
      turns.mockRestore();
    }
  });

  it('a sub that waits for a later turn is decoded once, when its turn comes', async () => {
    await h.start({ limits: { subscribesPerTurn: 1 } });
    const clients = await Promise.all(Array.from({ length: 20 }, () => h.connect()));
    await Promise.all(clients.map((c) => c.next((f) => f.ev === 'hello')));
    // The frames the gateway parses as JSON, of these subs (decodeRequest starts with JSON.parse).
    const parsed: string[] = [];
    const { parse } = JSON;
    const spy = vi.spyOn(JSON, 'parse').mockImplementation((text: string, reviver?: Parameters<typeof parse>[1]) => {
      if (typeof text === 'string' && text.includes('"op":"sub","ch":"once.')) parsed.push(text);
      return parse(text, reviver);
    });
    try {
      // Twenty first frames arriving together, one join a turn: most wait for a later turn.
      clients.forEach((c, i) => c.tcp.write(clientFrame(JSON.stringify({ op: 'sub', ch: `once.${i}`, id: i }))));
      await Promise.all(clients.map((c) => c.next((f) => f.ev === 'ack')));
    } finally {
      spy.mockRestore();
    }
    expect(parsed).toHaveLength(20);
    expect(new Set(parsed).size).toBe(20);
  });
});
