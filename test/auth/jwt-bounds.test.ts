import { describe, expect, it } from 'vitest';
import { JwtVerifier } from '../../src/auth/jwt-verifier.js';
import { loadConfig } from '../../src/config/load.js';
import { AUDIENCE, ISSUER, TestKeys } from '../helpers/tokens.js';

/** The verifier's own bounds, each at its edge: what a token may weigh and how many grants it may carry, and under which claim. */
describe('JwtVerifier bounds: auth.maxTokenBytes, auth.maxGrants, auth.grantsClaim', () => {
  const verifierWith = async (keys: TestKeys, auth: Record<string, unknown>): Promise<JwtVerifier> => {
    const config = loadConfig({ overrides: { auth: { keys: keys.config, audience: AUDIENCE, issuer: ISSUER, ...auth } } });
    return JwtVerifier.create(config.auth, Date.now);
  };

  it('refuses a token longer than auth.maxTokenBytes before verifying it, and takes one of exactly that length', async () => {
    const keys = await TestKeys.generate();
    // RS256: a signature long enough that the token is above the key's floor (256).
    const token = await keys.sign({ sub: 'alice' }, 'RS256');
    expect(token.length).toBeGreaterThan(257);
    const exact = await verifierWith(keys, { maxTokenBytes: token.length });
    expect(await exact.verify(token)).toMatchObject({ ok: true, identity: { sub: 'alice' } });
    const under = await verifierWith(keys, { maxTokenBytes: token.length - 1 });
    expect(await under.verify(token)).toEqual({ ok: false, reason: 'token too long' });
  });

  it('refuses a grants claim with more than auth.maxGrants patterns in a list, and takes exactly that many', async () => {
    const keys = await TestKeys.generate();
    const v = await verifierWith(keys, { maxGrants: 3 });
    const three = await keys.sign({ sub: 'bob', sluice: { sub: ['a.*', 'b.*', 'c.*'], pub: ['a.x'] } });
    expect(await v.verify(three)).toMatchObject({ ok: true, identity: { grants: { sub: ['a.*', 'b.*', 'c.*'], pub: ['a.x'] } } });
    const four = await keys.sign({ sub: 'bob', sluice: { sub: ['a.*', 'b.*', 'c.*', 'd.*'] } });
    expect(await v.verify(four)).toEqual({ ok: false, reason: 'bad sluice claim' });
    const fourPub = await keys.sign({ sub: 'bob', sluice: { pub: ['a', 'b', 'c', 'd'] } });
    expect(await v.verify(fourPub)).toEqual({ ok: false, reason: 'bad sluice claim' });
  });

  it('reads grants from the claim auth.grantsClaim names (default `sluice`), and only from it', async () => {
    const keys = await TestKeys.generate();
    const v = await verifierWith(keys, { grantsClaim: 'https://example.com/sluice' });
    const named = await keys.sign({ 'https://example.com/sluice': { sub: ['prices.*'] }, sluice: { sub: ['everything.*'] } });
    expect(await v.verify(named)).toMatchObject({ ok: true, identity: { grants: { sub: ['prices.*'], pub: [] } } });
    const malformed = await keys.sign({ 'https://example.com/sluice': ['prices.*'] });
    expect(await v.verify(malformed)).toEqual({ ok: false, reason: 'bad https://example.com/sluice claim' });
  });
});
