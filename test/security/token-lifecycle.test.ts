import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { TRANSPORTS } from '../helpers/transports.js';
import { until } from '../../devkit/until.js';
import { connectWithToken, refusedUpgrade } from '../helpers/upgrade.js';
import { TestKeys } from '../helpers/tokens.js';
import { manualClock } from '../helpers/clock.js';

describe.each(TRANSPORTS)('security: token lifecycle [%s]', (transport) => {
  let gw: TestGateway | undefined;
  let jwks: Server | undefined;
  const clients: TestClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await gw?.stop();
    gw = undefined;
    await new Promise<void>((resolve) => (jwks ? jwks.close(() => resolve()) : resolve()));
    jwks = undefined;
  });
  const now = () => Math.floor(Date.now() / 1000);

  it('refuses a missing token with 401 when no namespace admits anonymous clients', async () => {
    const keys = await TestKeys.generate();
    gw = await startGateway({ auth: { keys: keys.config } }, transport);
    const refused = await refusedUpgrade(gw.url);
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Bearer');
    expect(refused.body).toMatch(/token required/);
    expect(gw.gateway.stats.authFailures).toBe(1);
  });

  it('ignores a token in the query string unless auth.queryParam names its parameter', async () => {
    const keys = await TestKeys.generate();
    const token = await keys.sign({ sub: 'alice' });
    gw = await startGateway({ auth: { keys: keys.config } }, transport);
    const refused = await refusedUpgrade(`${gw.url}?token=${token}`);
    expect(refused.status).toBe(401);
    expect(refused.body).toMatch(/token required/);
    await gw.stop();
    gw = await startGateway({ auth: { keys: keys.config, queryParam: 'token' } }, transport);
    const viaQuery = await TestClient.connect(`${gw.url}?token=${token}`);
    clients.push(viaQuery);
    expect((await viaQuery.request({ op: 'ping' })).ev).toBe('pong');
  });

  it('closes a connection whose token expires with 4001, unless it refreshed in band', async () => {
    const keys = await TestKeys.generate();
    gw = await startGateway({ auth: { keys: keys.config, clockToleranceSec: 0 }, heartbeat: { intervalMs: 100, idleTimeoutMs: 10_000 } }, transport);
    const short = { sub: 'alice', exp: now() + 2 };
    const lapsing = await connectWithToken(gw.url, await keys.sign(short));
    const refreshing = await connectWithToken(gw.url, await keys.sign(short));
    clients.push(lapsing, refreshing);
    const ack = await refreshing.request({ op: 'auth', token: await keys.sign({ sub: 'alice', exp: now() + 3600 }) });
    expect(ack).toMatchObject({ ev: 'ack', exp: expect.any(Number) });
    expect(await lapsing.closed()).toBe(4001);
    expect((await refreshing.request({ op: 'ping' })).ev).toBe('pong');
    expect(refreshing.closeCode).toBeUndefined();
  });

  it('revokes subscriptions a refreshed token no longer covers, announcing each', async () => {
    const keys = await TestKeys.generate();
    gw = await startGateway({ auth: { keys: keys.config, namespaces: [{ pattern: 'chat.*', subscribe: 'granted', publish: 'granted' }] } }, transport);
    const carol = await connectWithToken(gw.url, await keys.sign({ sub: 'carol', sluice: { sub: ['chat.a', 'chat.b'] } }));
    const publisher = await connectWithToken(gw.url, await keys.sign({ sub: 'pub', sluice: { pub: ['chat.*'] } }));
    clients.push(carol, publisher);
    await carol.subscribe('chat.a');
    await carol.subscribe('chat.b');
    await carol.subscribe('misc.x');
    expect(await carol.request({ op: 'auth', token: await keys.sign({ sub: 'carol', sluice: { sub: ['chat.b'] } }) })).toMatchObject({ ev: 'ack' });
    expect(carol.frames.filter((f) => f.ev === 'err')).toEqual([expect.objectContaining({ code: 'forbidden', ch: 'chat.a' })]);
    await publisher.request({ op: 'pub', ch: 'chat.a', data: 'gone' });
    await publisher.request({ op: 'pub', ch: 'chat.b', data: 'kept' });
    await carol.next((f) => f.ev === 'msg' && f.ch === 'chat.b');
    expect(carol.messages('chat.a')).toHaveLength(0);
    expect(gw.gateway.hub.get('chat.a')?.subscribers.size ?? 0).toBe(0);
    expect(await carol.request({ op: 'unsub', ch: 'chat.a' })).toMatchObject({ code: 'not_subscribed' });
  });

  it('verifies against a JWKS URL, caching the key set between connections', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    let fetches = 0;
    const url = await serveJwks({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }, () => fetches++);
    gw = await startGateway({ auth: { jwksUrl: url } }, transport);
    for (let i = 0; i < 3; i++) {
      const c = await connectWithToken(gw.url, await es256(privateKey, 'k1', { sub: `u${i}` }));
      clients.push(c);
      expect((await c.request({ op: 'ping' })).ev).toBe('pong');
    }
    expect(fetches).toBe(1);
    const stranger = await generateKeyPair('ES256');
    expect((await refusedUpgrade(gw.url, { headers: { Authorization: `Bearer ${await es256(stranger.privateKey, 'k1', { sub: 'x' })}` } })).status).toBe(401);
    expect((await refusedUpgrade(gw.url, { headers: { Authorization: `Bearer ${await es256(privateKey, 'k9', { sub: 'x' })}` } })).body).toMatch(/no key|no applicable key/i);
  });

  it('auth.jwksCacheMs: trusts a fetched key set for exactly that long on the gateway clock, then fetches it again: a rotated-in key verifies, a removed one no longer does', async () => {
    const [old, rotated] = [await generateKeyPair('ES256', { extractable: true }), await generateKeyPair('ES256', { extractable: true })];
    const jwk = async (key: CryptoKey, kid: string) => ({ ...(await exportJWK(key)), kid, alg: 'ES256', use: 'sig' });
    // Served as it is at each request: the test rotates it in place.
    const keySet = { keys: [await jwk(old.publicKey, 'k1')] };
    let fetches = 0;
    const url = await serveJwks(keySet, () => fetches++);
    const clock = manualClock(Date.now());
    // The cooldown outlasts the test: an unknown kid cannot cause a fetch, only the cache's age can.
    gw = await startGateway({ auth: { jwksUrl: url, jwksCacheMs: 1_000, jwksCooldownMs: 60_000 } }, transport, clock);
    const oldToken = await es256(old.privateKey, 'k1', { sub: 'alice' });
    const newToken = await es256(rotated.privateKey, 'k2', { sub: 'bob' });
    const admitted = async (token: string): Promise<void> => {
      const c = await connectWithToken(gw!.url, token);
      clients.push(c);
      expect((await c.request({ op: 'ping' })).ev).toBe('pong');
    };
    const refused = async (token: string): Promise<string> => {
      const r = await refusedUpgrade(gw!.url, { headers: { Authorization: `Bearer ${token}` } });
      expect(r.status).toBe(401);
      return r.body;
    };
    await admitted(oldToken);
    expect(fetches).toBe(1);
    keySet.keys = [await jwk(rotated.publicKey, 'k2')];
    clock.advance(999); // 1 ms short of the cache time: the set fetched first is still trusted
    await admitted(oldToken);
    expect(await refused(newToken)).toMatch(/no key for this token/);
    expect(fetches).toBe(1);
    clock.advance(1); // the cache time: fetched again on the next verification
    await admitted(newToken);
    expect(fetches).toBe(2);
    expect(await refused(oldToken)).toMatch(/no key for this token/);
    expect(fetches).toBe(2);
  });

  it('auth.jwksTimeoutMs: a key-set endpoint that does not answer refuses the upgrade once the timeout passes, and says why', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    let fetches = 0;
    // Never answers (closed with the server after the test).
    const url = await serveJwks({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] }, () => fetches++, new Promise<void>(() => {}));
    gw = await startGateway({ auth: { jwksUrl: url, jwksTimeoutMs: 300 } }, transport);
    const refused = await refusedUpgrade(gw.url, { headers: { Authorization: `Bearer ${await es256(privateKey, 'k1', { sub: 'alice' })}` } });
    expect(refused.status).toBe(401);
    expect(refused.body).toMatch(/key set unavailable/);
    expect(fetches).toBe(1);
    // Refused by the timeout (the reason says so), not left waiting: a hang would end the test by its own timeout.
    expect(gw.gateway.pendingUpgrades).toBe(0);
    jwks!.closeAllConnections();
  });

  it('drops an upgrade whose client left while its token was being verified, and frees its slot', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let requested!: () => void;
    const asked = new Promise<void>((resolve) => (requested = resolve));
    const url = await serveJwks({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] }, () => requested(), held);
    gw = await startGateway({ auth: { jwksUrl: url }, limits: { maxConnections: 1 } }, transport);
    const token = await es256(privateKey, 'k1', { sub: 'alice' });
    const leaver = new (await import('ws')).default(gw.url, { headers: { Authorization: `Bearer ${token}` } });
    leaver.on('error', () => {});
    await asked;
    leaver.terminate();
    await new Promise((resolve) => leaver.once('close', resolve));
    release();
    await until(() => gw!.gateway.pendingUpgrades === 0, 'no pending upgrades');
    const next = await connectWithToken(gw.url, token);
    clients.push(next);
    expect((await next.request({ op: 'ping' })).ev).toBe('pong');
    expect(gw.gateway.connectionCount).toBe(1);
  });

  async function serveJwks(body: unknown, onFetch: () => void, gate?: Promise<void>): Promise<string> {
    jwks = createServer((_req, res) => {
      onFetch();
      void (gate ?? Promise.resolve()).then(() => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve) => jwks!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
  }

  function es256(key: CryptoKey, kid: string, claims: Record<string, unknown>): Promise<string> {
    return new SignJWT({ exp: now() + 3600, ...claims }).setProtectedHeader({ alg: 'ES256', kid }).sign(key);
  }
});
