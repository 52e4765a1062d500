import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ANONYMOUS, type Identity } from '../../src/auth/identity.js';
import { Permissions } from '../../src/auth/permissions.js';
import { AuthSchema } from '../../src/config/security-schema.js';

const user = (sub: string | undefined, sub_: string[] = [], pub: string[] = []): Identity => ({ authenticated: true, sub, expiresAt: Infinity, grants: { sub: sub_, pub } });

const permissions = (config: Record<string, unknown>, enabled = true) => new Permissions(AuthSchema.parse(config), enabled);

describe('permissions', () => {
  const p = permissions({
    namespaces: [
      { pattern: 'public.*', subscribe: 'anyone', publish: 'anyone' },
      { pattern: 'user:{sub}', publish: 'server' },
      { pattern: 'inbox.{sub}.*', subscribe: 'authenticated', publish: 'authenticated' },
      { pattern: 'news.*', subscribe: 'authenticated', publish: 'server' },
    ],
  });

  it('applies namespace modes and grants', () => {
    expect(p.canSubscribe(ANONYMOUS, 'public.x')).toBeUndefined();
    expect(p.canPublish(ANONYMOUS, 'public.x')).toBeUndefined();
    expect(p.canSubscribe(ANONYMOUS, 'news.a')).toMatch(/needs a token/);
    expect(p.canSubscribe(user('a'), 'news.a')).toBeUndefined();
    expect(p.canPublish(user('a', [], ['*']), 'news.a')).toMatch(/server-only/);
    expect(p.canPublish(user('a'), 'misc.x')).toMatch(/no grant/);
    expect(p.canPublish(user('a', [], ['misc.*']), 'misc.x')).toBeUndefined();
    expect(p.canSubscribe(user('a'), 'misc.x')).toBeUndefined();
    expect(p.allowsAnonymous).toBe(true);
  });

  it('reserves personal channels to their owner', () => {
    expect(p.canSubscribe(user('alice'), 'user:alice')).toBeUndefined();
    expect(p.canSubscribe(user('bob', ['*']), 'user:alice')).toMatch(/not the owner/);
    expect(p.canSubscribe(user('alice'), 'user:alice2')).toMatch(/not the owner/);
    expect(p.canSubscribe(ANONYMOUS, 'user:alice')).toMatch(/not the owner/);
    expect(p.canPublish(user('alice', [], ['*']), 'user:alice')).toMatch(/server-only/);
    expect(p.canPublish(user('alice'), 'inbox.alice.1')).toBeUndefined();
    expect(p.canSubscribe(user('alice'), 'inbox.alice.x.1')).toBeUndefined();
    // "alice.x" would own inbox.alice.x.1 too: a subject with the delimiter owns no personal channel.
    expect(p.canSubscribe(user('alice.x'), 'inbox.alice.x.1')).toMatch(/not the owner/);
    expect(p.canSubscribe(user('al*'), 'inbox.alice.1')).toMatch(/not the owner/);
  });

  it('never lets someone other than the owner into a personal channel (property)', () => {
    const name = fc.string({ unit: fc.constantFrom('a', 'b', '.', '-', '*', ':'), minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(name, name, (owner, other) => {
        fc.pre(owner !== other && !/[.*]/.test(owner));
        expect(p.canSubscribe(user(other, ['*']), `user:${owner}`)).toBeDefined();
        expect(p.canSubscribe(user(other), `inbox.${owner}.x`)).toBeDefined();
      }),
      { numRuns: 1000 },
    );
  });

  it('with auth off allows everything except publishing to server namespaces', () => {
    const off = permissions({ namespaces: [{ pattern: 'news.*', publish: 'server' }] }, false);
    expect(off.canSubscribe(ANONYMOUS, 'user:alice')).toBeUndefined();
    expect(off.canPublish(ANONYMOUS, 'chat.x')).toBeUndefined();
    expect(off.canPublish(ANONYMOUS, 'news.x')).toMatch(/server-only/);
  });

  it('refuses ambiguous personal patterns in config', () => {
    expect(() => AuthSchema.parse({ namespaces: [{ pattern: 'user:{sub}*' }] })).toThrow(/\{sub\}/);
    expect(() => AuthSchema.parse({ namespaces: [{ pattern: '*:{sub}' }] })).toThrow(/\{sub\}/);
    expect(() => AuthSchema.parse({ keys: [{ alg: 'HS256', secret: 'short' }] })).toThrow(/32 bytes/);
    expect(() => AuthSchema.parse({ keys: [{ alg: 'RS256', secret: 'x'.repeat(40) }] })).toThrow(/public key/);
  });
});
