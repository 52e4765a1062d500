import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import type { Frame, TestClient } from '../helpers/client.js';
import { gatewayHarness } from '../helpers/harness.js';
import { AUDIENCE, HS_SECRET, ISSUER } from '../helpers/tokens.js';
import { TRANSPORTS } from '../helpers/transports.js';
import { until } from '../../devkit/until.js';

const AUTH = { keys: [{ kid: 'hs256', alg: 'HS256' as const, secret: HS_SECRET }], audience: AUDIENCE, issuer: ISSUER, defaults: { subscribe: 'authenticated' as const } };
const ROOM = { pattern: 'room.*', presence: true, presenceIntervalMs: 50 };

function token(sub: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ aud: AUDIENCE, iss: ISSUER, exp: now + 3600, sub }).setProtectedHeader({ alg: 'HS256', kid: 'hs256' }).sign(new TextEncoder().encode(HS_SECRET));
}

/** Every join and leave a watcher received for a channel, in order, as `+id` / `-id`. */
function events(watcher: TestClient, ch: string): string[] {
  const out: string[] = [];
  for (const f of watcher.frames) {
    if (f.ev !== 'presence' || f.ch !== ch) continue;
    for (const j of (f.join as Array<{ id: string }> | undefined) ?? []) out.push(`+${j.id}`);
    for (const id of (f.leave as string[] | undefined) ?? []) out.push(`-${id}`);
  }
  return out;
}

const occupancy = (f: Frame, ch: string, total: number) => f.ev === 'occupancy' && f.ch === ch && f.total === total;

describe.each(TRANSPORTS)('presence [%s]', (transport) => {
  const h = gatewayHarness(transport);
  const as = async (sub: string) => h.connect({ headers: { Authorization: `Bearer ${await token(sub)}` } });

  it('counts one member per identity, with its connections, and announces its join and its leave exactly once', async () => {
    const gw = await h.start({ auth: AUTH, channels: [ROOM] });
    const carol = await as('carol');
    const ack = await carol.subscribe('room.1', { presence: true, info: { name: 'Carol' } });
    expect(ack.total).toBe(1);
    const alice1 = await as('alice');
    const alice2 = await as('alice');
    await alice1.subscribe('room.1', { info: { name: 'Alice' } });
    await alice2.subscribe('room.1', { info: { name: 'Other tab' } });
    await carol.next((f) => occupancy(f, 'room.1', 2));
    const page = await carol.request({ op: 'presence', ch: 'room.1' });
    expect(page).toMatchObject({ ev: 'ack', total: 2 });
    expect(page.members).toEqual([
      { id: 'carol', conns: 1, info: { name: 'Carol' } },
      { id: 'alice', conns: 2, info: { name: 'Alice' } },
    ]);
    expect(await alice1.request({ op: 'occupancy', ch: 'room.1' })).toMatchObject({ ev: 'ack', ch: 'room.1', total: 2 });

    // One connection of two leaves: still a member.
    alice1.close();
    await alice1.closed();
    await until(() => gw.gateway.presence.get('room.1')?.table.get('alice')?.conns === 1, 'the closed connection to leave');
    const after = await carol.request({ op: 'presence', ch: 'room.1' });
    expect(after.members).toEqual([
      { id: 'carol', conns: 1, info: { name: 'Carol' } },
      { id: 'alice', conns: 1, info: { name: 'Alice' } },
    ]);
    const seen = carol.frames.length;
    expect(await alice2.request({ op: 'unsub', ch: 'room.1' })).toMatchObject({ ev: 'ack' });
    await carol.next((f) => occupancy(f, 'room.1', 1), 10_000, seen);
    // Carol's own join was still in the interval when she subscribed: she sees it too.
    expect(events(carol, 'room.1')).toEqual(['+carol', '+alice', '-alice']);
  });

  it('keys anonymous members by connection id, and answers requests with the documented errors', async () => {
    await h.start({ channels: [{ ...ROOM, maxMembers: 2, maxInfoBytes: 16 }] });
    const a = await h.connect();
    const b = await h.connect();
    const c = await h.connect();
    const ids = await Promise.all([a, b].map(async (x) => (await x.next((f) => f.ev === 'hello')).conn));
    await a.subscribe('room.1', { presence: true });
    expect(await a.request({ op: 'sub', ch: 'room.2', info: { name: 'much longer than sixteen bytes' } })).toMatchObject({ ev: 'err', code: 'info_too_large' });
    await b.subscribe('room.1');
    expect(await c.request({ op: 'sub', ch: 'room.1' })).toMatchObject({ ev: 'err', code: 'member_limit' });
    expect(await c.request({ op: 'sub', ch: 'plain', presence: true })).toMatchObject({ ev: 'err', code: 'presence_off' });
    expect(await c.request({ op: 'presence', ch: 'plain' })).toMatchObject({ ev: 'err', code: 'presence_off' });
    expect(await c.request({ op: 'presence', ch: 'room.1', cursor: 'nope.3' })).toMatchObject({ ev: 'err', code: 'cursor_expired' });

    const first = await c.request({ op: 'presence', ch: 'room.1', limit: 1 });
    expect(first).toMatchObject({ total: 2, members: [{ id: ids[0], conns: 1 }] });
    const second = await c.request({ op: 'presence', ch: 'room.1', limit: 1, cursor: first.cursor });
    expect(second.members).toEqual([{ id: ids[1], conns: 1 }]);
    const third = await c.request({ op: 'presence', ch: 'room.1', limit: 1, cursor: second.cursor });
    expect(third).toMatchObject({ total: 2, members: [] });
    expect(third.cursor).toBeUndefined();

    const seen = a.frames.length;
    b.close();
    await a.next((f) => occupancy(f, 'room.1', 1), 10_000, seen);
    expect(await c.request({ op: 'sub', ch: 'room.1' })).toMatchObject({ ev: 'ack', total: 2 });
  });

  it('lets only those with the presence permission list members or watch', async () => {
    await h.start({ auth: { ...AUTH, namespaces: [{ pattern: 'room.*', subscribe: 'authenticated', presence: 'granted' }] }, channels: [ROOM] });
    const dave = await as('dave');
    expect(await dave.request({ op: 'sub', ch: 'room.1', presence: true })).toMatchObject({ ev: 'err', code: 'forbidden' });
    expect(await dave.request({ op: 'occupancy', ch: 'room.1' })).toMatchObject({ ev: 'err', code: 'forbidden' });
    // Subscribing (and so being a member) needs no more than the subscribe permission.
    expect(await dave.request({ op: 'sub', ch: 'room.1' })).toMatchObject({ ev: 'ack', total: 1 });
  });
});
