import { describe, expect, it } from 'vitest';
import { DashboardSessions, SESSION_TTL_S } from '../../src/dashboard/session.js';

const KEY = 'session-test-admin-key-0123';

describe('DashboardSessions', () => {
  it('accepts the cookie it opened until it expires', () => {
    let now = 1_700_000_000_000;
    const sessions = new DashboardSessions(KEY, () => now);
    const cookie = sessions.open().split(';')[0]!;
    expect(sessions.valid(cookie)).toBe(true);
    expect(sessions.valid(`a=b; ${cookie}; c=d`)).toBe(true);
    now += SESSION_TTL_S * 1000 - 1000;
    expect(sessions.valid(cookie)).toBe(true);
    now += 1000;
    expect(sessions.valid(cookie)).toBe(false);
  });

  it('refuses a cookie opened with another admin key, altered, or missing', () => {
    const sessions = new DashboardSessions(KEY);
    const cookie = sessions.open().split(';')[0]!;
    expect(new DashboardSessions(`${KEY}x`).valid(cookie)).toBe(false);
    const [name, value] = cookie.split('=') as [string, string];
    const [expires, mac] = value.split('.') as [string, string];
    expect(sessions.valid(`${name}=${Number(expires) + 3600}.${mac}`)).toBe(false);
    expect(sessions.valid(`${name}=${expires}.${mac.slice(1)}A`)).toBe(false);
    expect(sessions.valid(`${name}=${expires}.${mac}x`)).toBe(false);
    expect(sessions.valid(undefined)).toBe(false);
    expect(sessions.valid('')).toBe(false);
    expect(sessions.valid(`other=${value}`)).toBe(false);
  });
});
