import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, stopCluster, type ClusterNode } from '../helpers/cluster.js';
import { TestClient } from '../helpers/client.js';
import { AUDIENCE, HS_SECRET, ISSUER } from '../helpers/tokens.js';
import { startRedis, type TestRedis } from '../../devkit/redis.js';

function token(sub: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ aud: AUDIENCE, iss: ISSUER, exp: now + 3600, sub }).setProtectedHeader({ alg: 'HS256', kid: 'hs256' }).sign(new TextEncoder().encode(HS_SECRET));
}

/**
 * Two gateway processes (one per transport) on one real Redis: members are the union of both
 * nodes, an identity connected to both is one member until its last connection goes, and a
 * SIGKILLed node's members leave once its entries are no longer refreshed.
 */
describe('presence on two nodes (Redis)', () => {
  let redis: TestRedis;
  let a: ClusterNode;
  let b: ClusterNode;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    const file = join(tmpdir(), `sluice-presence-${process.pid}.json`);
    writeFileSync(file, JSON.stringify({
      auth: { keys: [{ kid: 'hs256', alg: 'HS256', secret: HS_SECRET }], audience: AUDIENCE, issuer: ISSUER, defaults: { subscribe: 'authenticated' } },
      channels: [{ pattern: 'room.*', presence: true, presenceIntervalMs: 50 }],
      presence: { nodeTtlMs: 1000 },
    }));
    [a] = await startCluster(1, redis.url, ['--config', file, '--transport', 'ws']);
    [b] = await startCluster(1, redis.url, ['--config', file, '--transport', 'uws']);
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.terminate();
    await stopCluster([a, b].filter((n) => n !== undefined));
    await redis?.stop();
  }, 30_000);

  const as = async (node: ClusterNode, sub: string): Promise<TestClient> => {
    const c = await TestClient.connect(node.url, { headers: { Authorization: `Bearer ${await token(sub)}` } });
    clients.push(c);
    return c;
  };
  /** The watcher's joins and leaves so far, as `+id` / `-id`. */
  const events = (c: TestClient): string[] =>
    c.frames.flatMap((f) => (f.ev !== 'presence' ? [] : [...((f.join as Array<{ id: string }>) ?? []).map((j) => `+${j.id}`), ...((f.leave as string[]) ?? []).map((id) => `-${id}`)]));
  const waitFor = (c: TestClient, event: string) => c.next((f) => f.ev === 'presence' && events(c).includes(event), 15_000);

  it('shows members of both nodes once each, and a member on both leaves only when both connections are gone', async () => {
    const watcher = await as(a, 'watcher');
    await watcher.subscribe('room.1', { presence: true });
    const aliceA = await as(a, 'alice');
    const aliceB = await as(b, 'alice');
    const bob = await as(b, 'bob');
    await aliceA.subscribe('room.1');
    await aliceB.subscribe('room.1');
    await bob.subscribe('room.1');
    await waitFor(watcher, '+bob');
    const listB = await bob.request({ op: 'presence', ch: 'room.1' });
    expect(listB.total).toBe(3);
    expect(Object.fromEntries((listB.members as Array<{ id: string; conns: number }>).map((m) => [m.id, m.conns]))).toEqual({ watcher: 1, alice: 2, bob: 1 });

    aliceB.close();
    await aliceB.closed();
    // The count on node B drops to 1 for alice; she is still a member.
    await aliceA.request({ op: 'ping' });
    expect(await watcher.request({ op: 'occupancy', ch: 'room.1' })).toMatchObject({ total: 3 });
    aliceA.close();
    await waitFor(watcher, '-alice');
    expect(events(watcher).filter((e) => e.endsWith('alice'))).toEqual(['+alice', '-alice']);
  });

  it('makes the members of a SIGKILLed node leave, once, and lets them come back through the other node', async () => {
    const watcher = await as(a, 'watcher2');
    await watcher.subscribe('room.2', { presence: true });
    const carol = await as(b, 'carol');
    await carol.subscribe('room.2', { info: { name: 'Carol' } });
    await waitFor(watcher, '+carol');
    b.run.child.kill('SIGKILL');
    await waitFor(watcher, '-carol');
    expect(await watcher.request({ op: 'occupancy', ch: 'room.2' })).toMatchObject({ total: 1 });
    const again = await as(a, 'carol');
    await again.subscribe('room.2');
    await watcher.next((f) => f.ev === 'presence' && events(watcher).filter((e) => e === '+carol').length === 2, 15_000);
    expect(events(watcher).filter((e) => e.endsWith('carol'))).toEqual(['+carol', '-carol', '+carol']);
  });
});
