import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/client.js';
import type { TestGateway } from '../helpers/gateway.js';
import { startGateway } from '../helpers/gateway.js';
import { gatewayHarness } from '../helpers/harness.js';
import { TRANSPORTS } from '../helpers/transports.js';
import { until } from '../../devkit/until.js';
import { refusedUpgrade } from '../helpers/upgrade.js';

describe.each(TRANSPORTS)('admission limits end to end [%s]', (transport) => {
  let gw: TestGateway | undefined;
  const h = gatewayHarness(transport);
  const connect = (headers: Record<string, string> = {}): Promise<TestClient> => h.connect({ headers });
  const from = (ip: string) => ({ 'X-Forwarded-For': ip });

  it('refuses the connection over limits.maxConnections with 503 + Retry-After before the upgrade, and admits again once one leaves', async () => {
    gw = await h.start({ limits: { maxConnections: 20 }, admission: { retryAfterSec: 3 } });
    const admitted = await Promise.all(Array.from({ length: 20 }, () => connect()));
    const refused = await refusedUpgrade(gw.url);
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('3');
    expect(gw.gateway.connectionCount).toBe(20);
    expect(gw.gateway.stats.connectionsRejected).toBe(1);
    expect(gw.gateway.stats.closesByCode.get(4102)).toBeUndefined();
    expect((await admitted[7]!.request({ op: 'ping' })).ev).toBe('pong');
    admitted[0]!.close();
    await until(() => gw!.gateway.connectionCount === 19, '19 connections');
    expect((await (await connect()).request({ op: 'ping' })).ev).toBe('pong');
  });

  it('by default holds one address to 1,000 connections: the next gets 503 too_many_from_address, and one more fits once one leaves', async () => {
    gw = await h.start();
    const admitted = await Promise.all(Array.from({ length: 1000 }, () => connect()));
    const refused = await refusedUpgrade(gw.url);
    expect(refused.status).toBe(503);
    expect(refused.body).toMatch(/too many connections from this address/);
    expect(gw.gateway.connectionCount).toBe(1000);
    admitted[0]!.close();
    await until(() => gw!.gateway.connectionCount === 999, '999 connections');
    expect((await (await connect()).request({ op: 'ping' })).ev).toBe('pong');
  });

  it('warns once, naming admission.trustProxy, when the per-IP limit refuses a request that came through an untrusted proxy', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const own = await startGateway({ admission: { maxConnectionsPerIp: 1 }, log: { level: 'info' } }, transport, undefined, pino({ level: 'info' }, sink));
    try {
      const first = await TestClient.connect(own.url);
      expect((await refusedUpgrade(own.url)).status).toBe(503);
      for (let i = 0; i < 3; i++) expect((await refusedUpgrade(own.url, { headers: from('198.51.100.7') })).status).toBe(503);
      const warnings = lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('admission.trustProxy'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.level).toBe(40);
      first.terminate();
    } finally {
      await own.stop();
    }
  });

  it('ignores X-Forwarded-For without trustProxy: per-IP limits count the socket address', async () => {
    gw = await h.start({ admission: { maxConnectionsPerIp: 2 } });
    await connect(from('198.51.100.1'));
    await connect(from('198.51.100.2'));
    const refused = await refusedUpgrade(gw.url, { headers: from('198.51.100.3') });
    expect(refused.status).toBe(503);
    expect(refused.body).toMatch(/too many connections from this address/);
  });

  it('with trustProxy, limits connections per X-Forwarded-For client', async () => {
    gw = await h.start({ admission: { maxConnectionsPerIp: 2, trustProxy: true } });
    await connect(from('198.51.100.1'));
    await connect(from('203.0.113.9, 198.51.100.1'));
    expect((await refusedUpgrade(gw.url, { headers: from('198.51.100.1') })).status).toBe(503);
    const other = await connect(from('198.51.100.2'));
    expect((await other.request({ op: 'ping' })).ev).toBe('pong');
  });

  it('limits new connections per second per client with 429 + Retry-After', async () => {
    gw = await h.start({ admission: { connectRatePerIp: 0.01, connectBurstPerIp: 3, trustProxy: true } });
    for (let i = 0; i < 3; i++) (await connect(from('192.0.2.50'))).close();
    const refused = await refusedUpgrade(gw.url, { headers: from('192.0.2.50') });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect((await (await connect(from('192.0.2.51'))).request({ op: 'ping' })).ev).toBe('pong');
    expect(gw.gateway.stats.upgradesRefused).toBe(1);
  });
});
