import { describe, expect, it } from 'vitest';
import { Admission, ipKey } from '../../src/auth/admission.js';
import { AdmissionSchema } from '../../src/config/security-schema.js';
import type { UpgradeRequest } from '../../src/net/http.js';

const request = (remoteAddress: string, headers: Record<string, string> = {}): UpgradeRequest => ({ url: '/', headers, remoteAddress });

function admission(config: Record<string, unknown>, maxConnections = 1000) {
  let now = 0;
  const a = new Admission(AdmissionSchema.parse(config), maxConnections, () => now);
  return { a, advance: (ms: number) => (now += ms) };
}

describe('admission (pure, injected clock)', () => {
  it('holds slots up to the total limit, and frees them on release', () => {
    const { a } = admission({ maxConnectionsPerIp: 0 }, 2);
    expect(a.admit(request('1.1.1.1'), '1.1.1.1')).toBeUndefined();
    expect(a.admit(request('2.2.2.2'), '2.2.2.2')).toBeUndefined();
    expect(a.admit(request('3.3.3.3'), '3.3.3.3')).toBe('at_capacity');
    a.release('1.1.1.1');
    expect(a.admit(request('3.3.3.3'), '3.3.3.3')).toBeUndefined();
    expect(a.trackedIps).toBe(0); // no per-IP limit set (the default is 1,000): no per-IP state at all
  });

  it('by default holds one address to 1,000 slots and tracks it', () => {
    const { a } = admission({}, 10_000);
    for (let i = 0; i < 1000; i++) expect(a.admit(request('5.5.5.5'), '5.5.5.5')).toBeUndefined();
    expect(a.admit(request('5.5.5.5'), '5.5.5.5')).toBe('too_many_from_address');
    expect(a.admit(request('6.6.6.6'), '6.6.6.6')).toBeUndefined();
    expect(a.trackedIps).toBe(2);
  });

  it('limits connections per IP', () => {
    const { a } = admission({ maxConnectionsPerIp: 2 });
    for (let i = 0; i < 2; i++) expect(a.admit(request('9.9.9.9'), '9.9.9.9')).toBeUndefined();
    expect(a.admit(request('9.9.9.9'), '9.9.9.9')).toBe('too_many_from_address');
    expect(a.admit(request('8.8.8.8'), '8.8.8.8')).toBeUndefined();
    a.release('9.9.9.9');
    expect(a.admit(request('9.9.9.9'), '9.9.9.9')).toBeUndefined();
  });

  it('limits the connect rate per IP with a token bucket that refills with time', () => {
    const { a, advance } = admission({ connectRatePerIp: 2, connectBurstPerIp: 3 });
    for (let i = 0; i < 3; i++) expect(a.admit(request('7.7.7.7'), '7.7.7.7')).toBeUndefined();
    expect(a.admit(request('7.7.7.7'), '7.7.7.7')).toBe('connecting_too_fast');
    advance(500);
    expect(a.admit(request('7.7.7.7'), '7.7.7.7')).toBeUndefined();
    expect(a.admit(request('7.7.7.7'), '7.7.7.7')).toBe('connecting_too_fast');
  });

  it('prunes idle addresses and bounds the table, refusing new addresses only while it is full of live ones', () => {
    const { a, advance } = admission({ maxConnectionsPerIp: 5, connectRatePerIp: 10, connectBurstPerIp: 1, maxTrackedIps: 16 });
    for (let i = 0; i < 16; i++) expect(a.admit(request(`10.0.0.${i}`), `10.0.0.${i}`)).toBeUndefined();
    expect(a.admit(request('10.0.1.1'), '10.0.1.1')).toBe('too_many_addresses');
    for (let i = 0; i < 16; i++) a.release(`10.0.0.${i}`);
    advance(1000);
    a.prune();
    expect(a.trackedIps).toBe(0);
    expect(a.admit(request('10.0.1.1'), '10.0.1.1')).toBeUndefined();
    expect(a.held).toBe(1);
  });

  it('with only the connection limit (the default), forgets an address once it holds nothing: addresses churning faster than housekeeping never fill the table', () => {
    const { a } = admission({ maxTrackedIps: 16 });
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 16; i++) {
        const ip = `10.${round}.0.${i}`;
        expect(a.admit(request(ip), ip)).toBeUndefined();
        a.release(ip); // the upgrade decided
        a.opened(ip); // the connection counted
        a.release(ip); // and closed
      }
    }
    expect(a.trackedIps).toBe(0);
    expect(a.held).toBe(0);
    expect(a.admit(request('10.9.9.9'), '10.9.9.9')).toBeUndefined();
    expect(a.trackedIps).toBe(1);
  });

  it('checks the Origin of browsers against allowedOrigins (wildcards, any case), and lets non-browsers through', () => {
    const { a } = admission({ allowedOrigins: ['https://app.example', 'https://*.example.org'] });
    expect(a.admit(request('1.1.1.1', { origin: 'https://APP.example' }), '1.1.1.1')).toBeUndefined();
    expect(a.admit(request('1.1.1.1', { origin: 'https://eu.example.org' }), '1.1.1.1')).toBeUndefined();
    expect(a.admit(request('1.1.1.1', { origin: 'https://evil.example' }), '1.1.1.1')).toBe('origin_not_allowed');
    expect(a.admit(request('1.1.1.1', { origin: 'https://example.org.evil.com' }), '1.1.1.1')).toBe('origin_not_allowed');
    expect(a.admit(request('1.1.1.1', { origin: 'null' }), '1.1.1.1')).toBe('origin_not_allowed');
    expect(a.admit(request('1.1.1.1'), '1.1.1.1')).toBeUndefined();
  });

  it('takes the client address from X-Forwarded-For only with trustProxy, proxyHops from the right', () => {
    const xff = { 'x-forwarded-for': '6.6.6.6, 203.0.113.7, 10.0.0.2' };
    expect(admission({}).a.clientIp(request('10.0.0.1', xff))).toBe('10.0.0.1');
    expect(admission({ trustProxy: true }).a.clientIp(request('10.0.0.1', xff))).toBe('10.0.0.2');
    expect(admission({ trustProxy: true, proxyHops: 2 }).a.clientIp(request('10.0.0.1', xff))).toBe('203.0.113.7');
    expect(admission({ trustProxy: true, proxyHops: 4 }).a.clientIp(request('10.0.0.1', xff))).toBe('10.0.0.1');
    expect(admission({ trustProxy: true }).a.clientIp(request('10.0.0.1', { 'x-forwarded-for': 'not-an-ip' }))).toBe('10.0.0.1');
  });

  it('accounts IPv6 clients by /64 and unwraps IPv4-mapped addresses', () => {
    expect(ipKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(ipKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(ipKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(ipKey('::1')).toBe('0:0:0:0::/64');
    expect(ipKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(ipKey('192.0.2.1')).toBe('192.0.2.1');
    const { a } = admission({ maxConnectionsPerIp: 1 });
    expect(a.admit(request('2001:db8:1:2::1'), '2001:db8:1:2::1')).toBeUndefined();
    expect(a.admit(request('2001:db8:1:2::2'), '2001:db8:1:2::2')).toBe('too_many_from_address');
  });
});
