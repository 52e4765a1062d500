import { describe, expect, it } from 'vitest';
import { KeyCheck, bearerToken, queryToken, subprotocolToken } from '../../src/auth/credentials.js';

const req = (url: string, headers: Record<string, string> = {}) => ({ method: 'GET', url, headers, remoteAddress: '127.0.0.1', readBody: async () => Buffer.alloc(0) });
const KEY = 'k'.repeat(16);
const OTHER = 'o'.repeat(20);

describe('credentials', () => {
  it('reads one Bearer token and nothing of another shape', () => {
    expect(bearerToken('Bearer abc.def')).toBe('abc.def');
    expect(bearerToken('bearer \tabc ')).toBe('abc');
    expect(bearerToken(undefined)).toBeUndefined();
    for (const bad of ['Bearer', 'Bearer ', 'Basic abc', 'Bearer a b', 'Bearerabc']) expect(bearerToken(bad), bad).toBeUndefined();
  });

  it('finds the bearer. subprotocol entry and the subprotocol to select', () => {
    expect(subprotocolToken('sluice, bearer.t')).toEqual({ token: 't', protocol: 'sluice' });
    expect(subprotocolToken('bearer.t')).toEqual({ token: 't', protocol: 'bearer.t' });
    expect(subprotocolToken('sluice')).toEqual({ token: undefined, protocol: 'sluice' });
    expect(subprotocolToken(undefined)).toEqual({ token: undefined, protocol: undefined });
    // sluice.batch is selected, in any position, only when the server batches; never unasked.
    expect(subprotocolToken('sluice, sluice.batch, bearer.t', true)).toEqual({ token: 't', protocol: 'sluice.batch' });
    expect(subprotocolToken('bearer.t, sluice.batch, sluice', true)).toEqual({ token: 't', protocol: 'sluice.batch' });
    expect(subprotocolToken('sluice.batch, sluice, bearer.t')).toEqual({ token: 't', protocol: 'sluice' });
    expect(subprotocolToken('sluice.batch, bearer.t')).toEqual({ token: 't', protocol: 'bearer.t' });
    expect(subprotocolToken('sluice.batch')).toEqual({ token: undefined, protocol: undefined });
  });

  it('reads a query parameter unless its name is empty', () => {
    expect(queryToken('/x?a=1&key=v%20w', 'key')).toBe('v w');
    expect(queryToken('/x?key=v', '')).toBeUndefined();
    expect(queryToken('/x', 'key')).toBeUndefined();
  });

  it('allows any configured key, from the Bearer header first, then the named header, never from the URL', () => {
    const check = new KeyCheck([KEY, OTHER], { header: 'x-api-key' });
    expect(check.enabled).toBe(true);
    expect(check.allows(req('/', { authorization: `Bearer ${OTHER}` }))).toBe(true);
    expect(check.allows(req('/', { 'x-api-key': KEY }))).toBe(true);
    expect(check.allows(req(`/?key=${KEY}`))).toBe(false);
    expect(check.allows(req('/', { authorization: `Bearer ${KEY}x`, 'x-api-key': KEY })), 'a wrong Bearer key is not overridden').toBe(false);
    expect(check.allows(req('/', { authorization: `Bearer ${KEY.slice(1)}` }))).toBe(false);
    expect(check.allows(req('/'))).toBe(false);
  });

  it('reads only the places it is given, and allows nothing without keys', () => {
    expect(new KeyCheck([KEY], {}).allows(req(`/?key=${KEY}`, { 'x-api-key': KEY }))).toBe(false);
    const none = new KeyCheck([], { header: 'x-api-key' });
    expect(none.enabled).toBe(false);
    expect(none.allows(req('/', { 'x-api-key': '' }))).toBe(false);
    expect(() => new KeyCheck([''], {})).toThrow(/empty/);
  });
});
