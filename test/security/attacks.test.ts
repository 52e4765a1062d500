import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { TestClient } from '../helpers/client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { TRANSPORTS } from '../helpers/transports.js';
import { refusedUpgrade, connectWithToken } from '../helpers/upgrade.js';
import { AUDIENCE, HS_SECRET, ISSUER, signWith, tamperPayload, TestKeys, unsignedToken } from '../helpers/tokens.js';
import { generateKeyPair } from 'jose';

/**
 * Attempts to get in or reach where one does not belong, each refused with the documented HTTP
 * status, error code or close code, against one gateway on which a legitimate subscriber keeps
 * receiving every message, in order, throughout.
 */
describe.each(TRANSPORTS)('security: attacks are refused and disturb nobody [%s]', (transport) => {
  let keys: TestKeys;
  let gw: TestGateway;
  let alice: TestClient;
  let bob: TestClient;
  let published = 0;
  const open: TestClient[] = [];

  const track = (c: TestClient): TestClient => {
    open.push(c);
    return c;
  };
  const as = async (claims: Record<string, unknown>, alg: Parameters<TestKeys['sign']>[1] = 'HS256') => track(await connectWithToken(gw.url, await keys.sign(claims, alg)));

  /** Bob publishes one more message; Alice must receive it with the next seq. */
  const legitimateTrafficFlows = async (): Promise<void> => {
    const ack = await bob.request({ op: 'pub', ch: 'chat.room1', data: { n: ++published } });
    expect(ack).toMatchObject({ ev: 'ack', seq: published });
    await alice.next((f) => f.ev === 'msg' && f.seq === published);
    expect(alice.messages('chat.room1').map((m) => m.seq)).toEqual(Array.from({ length: published }, (_, i) => i + 1));
    expect(alice.closeCode).toBeUndefined();
  };

  beforeAll(async () => {
    keys = await TestKeys.generate();
    gw = await startGateway({
      auth: {
        keys: keys.config,
        audience: AUDIENCE,
        issuer: ISSUER,
        clockToleranceSec: 0,
        queryParam: 'token',
        namespaces: [
          { pattern: 'public.*', subscribe: 'anyone', publish: 'authenticated' },
          { pattern: 'user:{sub}', subscribe: 'authenticated', publish: 'server' },
          { pattern: 'news.*', subscribe: 'authenticated', publish: 'server' },
          { pattern: 'chat.*', subscribe: 'granted', publish: 'granted' },
        ],
      },
      admission: { allowedOrigins: ['https://app.example'] },
    }, transport);
    alice = track(await connectWithToken(gw.url, await keys.sign({ sub: 'alice', sluice: { sub: ['chat.room1', 'chat.room2'] } })));
    bob = track(await connectWithToken(gw.url, await keys.sign({ sub: 'bob', sluice: { sub: ['chat.*'], pub: ['chat.room1'] } }, 'RS256')));
    await alice.subscribe('chat.room1');
    await alice.subscribe('user:alice');
    await legitimateTrafficFlows();
  });

  afterAll(async () => {
    for (const c of open) c.terminate();
    await gw?.stop();
  });

  const now = () => Math.floor(Date.now() / 1000);

  // ---- refused before the upgrade: HTTP status, no WebSocket ----
  const upgrades: Array<[string, () => Promise<{ token?: string; url?: string; headers?: Record<string, string>; protocols?: string[] }>, number, RegExp]> = [
    ['expired token', async () => ({ token: await keys.sign({ sub: 'alice', exp: now() - 60 }) }), 401, /expired/],
    ['not-yet-valid token (nbf)', async () => ({ token: await keys.sign({ sub: 'alice', nbf: now() + 600 }) }), 401, /not yet valid/],
    ['wrong audience', async () => ({ token: await keys.sign({ sub: 'alice', aud: 'another-service' }) }), 401, /audience/],
    ['wrong issuer', async () => ({ token: await keys.sign({ sub: 'alice', iss: 'https://evil.test' }) }), 401, /issuer/],
    ['payload tampered after signing (sub changed)', async () => ({ token: tamperPayload(await keys.sign({ sub: 'mallory' }), { sub: 'alice' }) }), 401, /signature/],
    ['grants widened after signing', async () => ({ token: tamperPayload(await keys.sign({ sub: 'mallory', sluice: { sub: ['public.x'] } }), { sluice: { sub: ['*'] } }) }), 401, /signature/],
    ['signature bytes flipped', async () => ({ token: flipSignature(await keys.sign({ sub: 'alice' }, 'ES256')) }), 401, /signature/],
    ['alg: none', async () => ({ token: unsignedToken({ sub: 'alice' }) }), 401, /algorithm|malformed/],
    ['alg: none under a trusted kid', async () => ({ token: unsignedToken({ sub: 'alice' }, { alg: 'none', kid: 'hs256' }) }), 401, /algorithm|malformed/],
    ['HS/RS confusion: HS256 signed with the RSA public key as secret', async () => ({ token: await signWith(new TextEncoder().encode(keys.pairs.RS256.publicPem), { alg: 'HS256', kid: 'rs256' }, { sub: 'alice' }) }), 401, /no key|algorithm/],
    ['HS256 with a guessed secret', async () => ({ token: await signWith(new TextEncoder().encode('x'.repeat(32)), { alg: 'HS256', kid: 'hs256' }, { sub: 'alice' }) }), 401, /signature/],
    ['RS256 signed by an attacker key under a trusted kid', async () => ({ token: await signWith((await generateKeyPair('RS256')).privateKey, { alg: 'RS256', kid: 'rs256' }, { sub: 'alice' }) }), 401, /signature/],
    ['EdDSA signed by an attacker key under a trusted kid', async () => ({ token: await signWith((await generateKeyPair('EdDSA')).privateKey, { alg: 'EdDSA', kid: 'eddsa' }, { sub: 'alice' }) }), 401, /signature/],
    ['ES256 token relabelled as RS256', async () => ({ token: relabel(await keys.sign({ sub: 'alice' }, 'ES256'), { alg: 'RS256', kid: 'es256' }) }), 401, /no key|signature|malformed/],
    ['unknown kid', async () => ({ token: await keys.sign({ sub: 'alice' }, 'HS256', { kid: 'retired-2019' }) }), 401, /no key/],
    ['token without exp', async () => ({ token: await signWith(new TextEncoder().encode(HS_SECRET), { alg: 'HS256', kid: 'hs256' }, { sub: 'alice', exp: undefined }) }), 401, /exp/],
    ['garbage instead of a token', async () => ({ token: 'not.a.jwt' }), 401, /malformed/],
    ['overlong token', async () => ({ token: `${await keys.sign({ sub: 'alice' })}${'A'.repeat(9000)}` }), 401, /too long/],
    ['grant pattern with regex characters', async () => ({ token: await keys.sign({ sub: 'alice', sluice: { sub: ['chat.(.*)|.*'] } }) }), 401, /sluice claim/],
    ['grants claim of the wrong shape', async () => ({ token: await keys.sign({ sub: 'alice', sluice: ['*'] }) }), 401, /sluice claim/],
    ['Basic instead of Bearer credentials', async () => ({ headers: { Authorization: 'Basic YWxpY2U6cGFzc3dvcmQ=' } }), 401, /malformed/],
    ['expired token in a bearer.* subprotocol', async () => ({ protocols: ['sluice', `bearer.${await keys.sign({ sub: 'alice', exp: now() - 60 })}`] }), 401, /expired/],
    ['forged token in the query string', async () => ({ url: `${gw.url}?token=${tamperPayload(await keys.sign({ sub: 'bob' }), { sub: 'alice' })}` }), 401, /signature/],
    ['cross-site origin (CSWSH)', async () => ({ token: await keys.sign({ sub: 'alice' }), headers: { Origin: 'https://evil.example' } }), 403, /origin/],
  ];

  it.each(upgrades)('refuses before the upgrade: %s', async (_name, make, status, body) => {
    const attempt = await make();
    const headers = { ...attempt.headers, ...(attempt.token === undefined ? {} : { Authorization: `Bearer ${attempt.token}` }) };
    const refused = await refusedUpgrade(attempt.url ?? gw.url, { headers, protocols: attempt.protocols });
    expect(refused.status).toBe(status);
    expect(refused.body).toMatch(body);
    await legitimateTrafficFlows();
  });

  // ---- refused in band: err forbidden / bad_channel ----
  const inBand: Array<[string, () => Promise<TestClient>, Record<string, unknown>, string]> = [
    ['another user’s personal channel', () => as({ sub: 'mallory' }), { op: 'sub', ch: 'user:alice' }, 'forbidden'],
    ['a personal channel extended past the owner (user:alice.x as alice)', () => as({ sub: 'alice' }), { op: 'sub', ch: 'user:alice.x' }, 'forbidden'],
    ['a personal channel by prefix (user:alic as alice)', () => as({ sub: 'alice' }), { op: 'sub', ch: 'user:alic' }, 'forbidden'],
    ['a personal channel with a wildcard subject (sub "*")', () => as({ sub: '*' }), { op: 'sub', ch: 'user:alice' }, 'forbidden'],
    ['a personal channel without a subject', () => as({}), { op: 'sub', ch: 'user:alice' }, 'forbidden'],
    ['a granted channel by prefix (chat.room10 with grant chat.room1)', () => as({ sub: 'carol', sluice: { sub: ['chat.room1'] } }), { op: 'sub', ch: 'chat.room10' }, 'forbidden'],
    ['a granted channel extended (chat.room1.admin)', () => as({ sub: 'carol', sluice: { sub: ['chat.room1'] } }), { op: 'sub', ch: 'chat.room1.admin' }, 'forbidden'],
    ['a granted channel in another case (CHAT.ROOM1)', () => as({ sub: 'carol', sluice: { pub: ['chat.room1'] } }), { op: 'pub', ch: 'CHAT.ROOM1', data: 'x' }, 'forbidden'],
    ['publish with only a subscribe grant', () => as({ sub: 'carol', sluice: { sub: ['chat.room1'] } }), { op: 'pub', ch: 'chat.room1', data: 'x' }, 'forbidden'],
    ['publish to a server-only channel with a grant for everything', () => as({ sub: 'carol', sluice: { pub: ['*'] } }), { op: 'pub', ch: 'news.headlines', data: 'fake' }, 'forbidden'],
    ['publish into someone’s personal channel', () => as({ sub: 'mallory', sluice: { pub: ['*'] } }), { op: 'pub', ch: 'user:alice', data: 'phish' }, 'forbidden'],
    ['publish into one’s own server-only personal channel', () => as({ sub: 'alice', sluice: { pub: ['*'] } }), { op: 'pub', ch: 'user:alice', data: 'x' }, 'forbidden'],
    ['anonymous subscribe to a granted namespace', () => TestClient.connect(gw.url).then(track), { op: 'sub', ch: 'chat.room1' }, 'forbidden'],
    ['anonymous publish to the public namespace', () => TestClient.connect(gw.url).then(track), { op: 'pub', ch: 'public.lobby', data: 'spam' }, 'forbidden'],
    ['anonymous subscribe to a default (authenticated) channel', () => TestClient.connect(gw.url).then(track), { op: 'sub', ch: 'misc.thing' }, 'forbidden'],
    ['channel name with .. and a slash', () => as({ sub: 'carol', sluice: { sub: ['chat.*'] } }), { op: 'sub', ch: 'chat.room1/../room2' }, 'bad_channel'],
    ['channel name with an empty segment and a NUL', () => as({ sub: 'carol', sluice: { sub: ['chat.*'] } }), { op: 'sub', ch: 'chat.room1\u0000' }, 'bad_channel'],
    ['unicode look-alike channel (Cyrillic о)', () => as({ sub: 'carol', sluice: { sub: ['chat.room1'] } }), { op: 'sub', ch: 'chat.r\u043e\u043em1' }, 'bad_channel'],
    ['wildcard in a channel name', () => as({ sub: 'carol', sluice: { sub: ['chat.room1'] } }), { op: 'sub', ch: 'chat.room1*' }, 'bad_channel'],
    ['overlong channel name', () => as({ sub: 'carol', sluice: { sub: ['chat.*'] } }), { op: 'sub', ch: `chat.${'a'.repeat(200)}` }, 'bad_channel'],
    ['empty channel name', () => as({ sub: 'carol', sluice: { sub: ['*'] } }), { op: 'sub', ch: '' }, 'bad_channel'],
    ['in-band refresh to another user’s token', async () => track(await connectWithToken(gw.url, await keys.sign({ sub: 'mallory' }))), { op: 'auth', token: '@alice' }, 'forbidden'],
    ['in-band refresh with an expired token', () => as({ sub: 'mallory' }), { op: 'auth', token: '@expired' }, 'unauthorized'],
    ['in-band refresh with alg: none', () => as({ sub: 'mallory' }), { op: 'auth', token: unsignedToken({ sub: 'mallory' }) }, 'unauthorized'],
  ];

  it.each(inBand)('refuses in band: %s', async (_name, connect, request, code) => {
    const client = await connect();
    const frame = { ...request };
    if (frame.token === '@alice') frame.token = await keys.sign({ sub: 'alice', sluice: { sub: ['*'] } });
    if (frame.token === '@expired') frame.token = await keys.sign({ sub: 'mallory', exp: now() - 60 });
    const reply = await client.request(frame);
    expect(reply).toMatchObject({ ev: 'err', code });
    expect(client.messages('chat.room1')).toHaveLength(0);
    await legitimateTrafficFlows();
  });

  it('closes with 4003 after repeated forbidden attempts', async () => {
    const prober = await as({ sub: 'mallory' });
    for (let i = 0; i < 4; i++) expect(await prober.request({ op: 'sub', ch: `user:victim${i}` })).toMatchObject({ code: 'forbidden' });
    prober.send({ op: 'sub', ch: 'user:victim5' });
    expect(await prober.closed()).toBe(4003);
    await legitimateTrafficFlows();
  });

  it('lets legitimate requests through: own personal channel, granted channel, public channel, refresh', async () => {
    const carol = await as({ sub: 'carol', sluice: { sub: ['chat.room1'] } }, 'EdDSA');
    await carol.subscribe('user:carol');
    await carol.subscribe('chat.room1');
    const anon = track(await TestClient.connect(gw.url));
    await anon.subscribe('public.lobby');
    const refreshed = await carol.request({ op: 'auth', token: await keys.sign({ sub: 'carol', sluice: { sub: ['chat.room2'] } }, 'ES256') });
    expect(refreshed).toMatchObject({ ev: 'ack' });
    expect(await carol.request({ op: 'sub', ch: 'chat.room2' })).toMatchObject({ ev: 'ack' });
    const viaProtocol = new WebSocket(gw.url, ['sluice', `bearer.${await keys.sign({ sub: 'dave' })}`]);
    await new Promise((resolve, reject) => viaProtocol.once('open', resolve).once('error', reject));
    expect(viaProtocol.protocol).toBe('sluice');
    viaProtocol.terminate();
    const viaQuery = track(await TestClient.connect(`${gw.url}?token=${await keys.sign({ sub: 'erin' })}`));
    expect((await viaQuery.request({ op: 'ping' })).ev).toBe('pong');
    await legitimateTrafficFlows();
  });
});

function flipSignature(token: string): string {
  const [h, p, s] = token.split('.');
  const sig = Buffer.from(s!, 'base64url');
  sig[5] ^= 0x55;
  return `${h}.${p}.${sig.toString('base64url')}`;
}

function relabel(token: string, header: Record<string, unknown>): string {
  const [, p, s] = token.split('.');
  return `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${p}.${s}`;
}
