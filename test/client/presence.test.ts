import { describe, expect, it } from 'vitest';
import type { PresenceMember } from '../../src/client/presence.js';
import { until } from '../../devkit/until.js';
import { harness, nextEvent, recordingWebSocket } from './support.js';

const ROOM = { channels: [{ pattern: 'room.*', presence: true, presenceIntervalMs: 20 }] };

describe('client presence', () => {
  const h = harness();

  it('lists members, follows joins, leaves and the count, and after a reconnect reports only what changed', async () => {
    const gw = await h.gateway(ROOM);
    const ws = recordingWebSocket();
    const seen: string[] = [];
    const counts: number[] = [];
    const watcher = h.client(gw.url, { WebSocket: ws.Impl, reconnect: { initialDelayMs: 10 } });
    const sub = watcher.subscribe('room.1', {
      presence: true,
      info: { name: 'W' },
      onJoin: (m: PresenceMember) => seen.push(`+${m.id}`),
      onLeave: (m: PresenceMember) => seen.push(`-${m.id}`),
      onOccupancy: (n) => counts.push(n),
    });
    await sub.ready;
    const bob = h.client(gw.url);
    await bob.subscribe('room.1', { info: { name: 'Bob' } }).ready;
    await until(() => sub.members.size === 2, 'bob to join');
    const listed = await sub.presence();
    expect(listed.map((m) => m.info)).toEqual([{ name: 'W' }, { name: 'Bob' }]);
    expect(sub.occupancy).toBe(2);

    // Cut the watcher off; meanwhile bob leaves and carol joins.
    const before = seen.length;
    ws.sockets.at(-1)!.terminate();
    await nextEvent(watcher, 'disconnected');
    bob.close();
    const carol = h.client(gw.url);
    await carol.subscribe('room.1').ready;
    const infos = () => [...sub.members.values()].map((m) => JSON.stringify(m.info ?? null)).sort();
    await until(() => JSON.stringify(infos()) === JSON.stringify(['null', '{"name":"W"}']), 'a fresh list after the reconnect');
    // A fresh list, not replayed joins: bob left, carol joined; the watcher (a new connection id) replaces its old self.
    const after = seen.slice(before);
    expect(after.filter((e) => e.startsWith('+')).length).toBe(2);
    expect(after.filter((e) => e.startsWith('-')).length).toBe(2);
    expect(new Set([...sub.members.keys()]).size).toBe(2);
    expect(counts.at(-1)).toBe(2);
  });

  it('rejects a listing of a channel without presence with the server error', async () => {
    const gw = await h.gateway(ROOM);
    const client = h.client(gw.url);
    const sub = client.subscribe('plain');
    await sub.ready;
    await expect(sub.presence()).rejects.toMatchObject({ code: 'presence_off' });
  });
});
