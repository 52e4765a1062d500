import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { presentedToken } from '../../src/auth/credentials.js';
import { loadConfig } from '../../src/config/load.js';
import { Gateway } from '../../src/gateway.js';
import { HS_SECRET } from '../helpers/tokens.js';

const req = (url: string, headers: Record<string, string> = {}) => ({ url, headers, remoteAddress: '127.0.0.1' });

describe('where the connect token is found', () => {
  it('prefers Authorization, then a bearer. subprotocol, then the query parameter', () => {
    expect(presentedToken(req('/?token=q', { authorization: 'Bearer h', 'sec-websocket-protocol': 'sluice, bearer.p' }), 'token')).toEqual({ token: 'h', protocol: 'sluice' });
    expect(presentedToken(req('/?token=q', { 'sec-websocket-protocol': 'sluice, bearer.p' }), 'token')).toEqual({ token: 'p', protocol: 'sluice' });
    expect(presentedToken(req('/?a=1&token=q'), 'token')).toEqual({ token: 'q', protocol: undefined });
    expect(presentedToken(req('/?token=q'), '')).toEqual({ token: undefined, protocol: undefined });
    expect(presentedToken(req('/'), 'token')).toEqual({ token: undefined, protocol: undefined });
  });

  it('selects the bearer entry itself when it is the only subprotocol offered', () => {
    expect(presentedToken(req('/', { 'sec-websocket-protocol': 'bearer.abc' }), 'token')).toEqual({ token: 'abc', protocol: 'bearer.abc' });
  });

  it('turns other Authorization schemes into an empty (invalid) token rather than anonymous access', () => {
    expect(presentedToken(req('/', { authorization: 'Basic abc' }), 'token').token).toBe('');
    expect(presentedToken(req('/', { authorization: 'Bearer' }), 'token').token).toBe('');
  });
});

describe('start-up warning', () => {
  async function startupLines(overrides: Record<string, unknown>): Promise<string[]> {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    const config = loadConfig({ overrides: { host: '127.0.0.1', port: 0, log: { healthSummaryIntervalMs: 0 }, ...overrides } });
    const gateway = await Gateway.start({ config, log: pino({ level: 'info' }, sink) });
    await gateway.shutdown();
    return lines;
  }

  it('warns that auth is off when no key is configured, and not otherwise', async () => {
    const off = await startupLines({});
    expect(off.some((l) => l.includes('"level":40') && l.includes('auth is off'))).toBe(true);
    const on = await startupLines({ auth: { keys: [{ alg: 'HS256', secret: HS_SECRET }] } });
    expect(on.some((l) => l.includes('auth is off'))).toBe(false);
    expect(on.some((l) => l.includes('sluice listening'))).toBe(true);
  });
});
