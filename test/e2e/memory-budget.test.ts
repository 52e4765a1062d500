import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { SLUICE_CLI, spawnServer, type ServerProcess } from '../../devkit/process.js';
import { until } from '../../devkit/until.js';
import { HISTORY_SHARE } from '../../src/util/memory-budget.js';
import { TestClient } from '../helpers/client.js';
import { gatewayHarness } from '../helpers/harness.js';

/**
 * Issue 12 item 1: history was bounded only on paper. Publishing to channels nobody subscribes to
 * kept every publication for historyTtlMs: 16 connections publishing ~70 MiB to fresh names raised
 * RSS from 71 to 181 MiB, and it stayed there. With a memory budget the history pool stays within
 * its share and the history of channels nobody watches is dropped least recently used first (a
 * resume then learns the exact range it lost); RSS against budget + idle baseline is measured by
 * the adversary suite (docs/operations.md).
 */

const MiB = 1024 * 1024;
const BUDGET = 64 * MiB;

let server: ServerProcess | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function metric(httpUrl: string, line: string): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(line));
  return found === undefined ? Number.NaN : Number(found.slice(found.lastIndexOf(' ') + 1));
}

/**
 * One connection publishing `count` messages of `size` bytes to fresh channels, one every `everyMs`
 * (below the default 1 MiB/s inbound bucket, as a patient attacker would), `window` unanswered at most.
 */
function flood(url: string, index: number, count: number, size: number, everyMs: number, window = 4): Promise<number> {
  const data = JSON.stringify('x'.repeat(size));
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let sent = 0;
    let acked = 0;
    let timer: NodeJS.Timeout | undefined;
    ws.on('open', () => {
      timer = setInterval(() => {
        if (sent < count && sent - acked < window) ws.send(`{"op":"pub","id":${sent},"ch":"flood.${index}.${sent++}","data":${data}}`);
      }, everyMs);
    });
    ws.on('message', (raw) => {
      const f = JSON.parse(raw.toString()) as { ev: string };
      if (f.ev === 'hello') return;
      if (f.ev !== 'ack') reject(new Error(`publisher ${index} got ${raw.toString()}`));
      if (++acked === count) {
        clearInterval(timer);
        ws.close();
        resolve(acked);
      }
    });
    ws.on('error', reject);
  });
}

/** Asks for an upgrade and returns the refusal the gateway answers instead. */
function upgradeRefusal(httpUrl: string): Promise<{ status: number; retryAfter: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(httpUrl, { headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' } });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body }));
    });
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      reject(new Error('the upgrade was accepted'));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('memory budget: history of a fresh-channel publish flood (issue 12 item 1)', () => {
  it('keeps the history pool within its share and drops the history of the channels nobody watches', async () => {
    server = await spawnServer({
      script: SLUICE_CLI,
      args: ['--host', '127.0.0.1', '--log.level', 'silent', '--limits.memoryBudgetBytes', String(BUDGET)],
      portFlag: true,
      stdout: 'ignore',
    });
    const { httpUrl, url } = server;
    await until(async () => (await fetch(`${httpUrl}/readyz`)).status === 200, 'the gateway to be ready');
    let peakHistory = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peakHistory = Math.max(peakHistory, await metric(httpUrl, 'sluice_memory_bytes{pool="history"}'));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const size = 30 * 1024;
    const perConnection = Math.ceil((70 * MiB) / size / 16);
    const acked = await Promise.all(Array.from({ length: 16 }, (_, i) => flood(url, i, perConnection, size, 34)));
    sampling = false;
    await sampler;
    expect(acked.reduce((a, b) => a + b, 0)).toBe(16 * perConnection);

    expect(peakHistory, 'history pool at its peak').toBeLessThanOrEqual(BUDGET * HISTORY_SHARE);
    // RSS is a benchmark figure, not an assertion (it depends on when the collector runs on a loaded
    // machine): the adversary suite's publish-flood row measures it against budget + idle baseline.
    expect(await metric(httpUrl, 'sluice_memory_history_evictions_total')).toBeGreaterThan(0);
    expect(await metric(httpUrl, 'sluice_memory_bytes{pool="history"}')).toBeLessThanOrEqual(BUDGET * HISTORY_SHARE);
    expect(await metric(httpUrl, 'sluice_memory_pressure')).toBeLessThan(2);
  }, 120_000);
});

describe('memory budget: behaviour as it fills', () => {
  const h = gatewayHarness('ws');

  it('drops the history of unwatched channels least recently used first; a resume learns the exact range it lost', async () => {
    const gw = await h.start({ limits: { memoryBudgetBytes: 4 * MiB }, inbound: { bytesPerSecond: 0, messagesPerSecond: 0 } });
    const pub = await h.connect();
    for (let i = 0; i < 3; i++) await pub.request({ op: 'pub', ch: 'quiet.room', data: i });
    const sub = await h.connect();
    const ack = await sub.subscribe('quiet.room');
    sub.close();
    await until(() => gw.gateway.hub.get('quiet.room')?.unwatched === true, 'the subscriber to leave');
    // 3 MiB to fresh channels: past the history pool's share (40%: 1.6 MiB), so the least recently used goes first.
    const data = 'y'.repeat(30 * 1024);
    for (let i = 0; i < 100; i++) await pub.request({ op: 'pub', ch: `fresh.${i}`, data });
    expect(gw.gateway.budget.pools.history.bytes).toBeLessThanOrEqual(4 * MiB * HISTORY_SHARE);
    const back = await h.connect();
    const resumed = await back.subscribe('quiet.room', { since: { epoch: ack.epoch, seq: 0 } });
    expect(resumed).toMatchObject({ ev: 'ack', epoch: ack.epoch, seq: 3, recovered: false });
  });

  it('above the soft mark refuses new connections (503 + Retry-After) and API publishes (503), and accepts again once below', async () => {
    // 16 KiB per connection against a 64 KiB budget: the soft mark (70%) is passed by the third.
    const gw = await h.start({ limits: { memoryBudgetBytes: 64 * 1024 }, httpApi: { apiKeys: ['a-long-enough-api-key'] } });
    const clients = [await h.connect(), await h.connect(), await h.connect()];
    expect(gw.gateway.budget.refusing).toBe(true);
    const refused = await upgradeRefusal(gw.httpUrl);
    expect(refused.status).toBe(503);
    expect(refused.retryAfter).toBeDefined();
    expect(refused.body).toContain('memory pressure');
    const api = await fetch(`${gw.httpUrl}/api/publish`, { method: 'POST', headers: { authorization: 'Bearer a-long-enough-api-key', 'content-type': 'application/json' }, body: '{"ch":"a","data":1}' });
    expect(api.status).toBe(503);
    clients[0]!.close();
    await until(() => !gw.gateway.budget.refusing, 'the budget to fall below the soft mark');
    const again = await TestClient.connect(gw.url);
    again.terminate();
  });

  it('above the hard mark sheds lossy queues first, then closes the largest holder 4100', async () => {
    const gw = await h.start({ limits: { memoryBudgetBytes: 64 * MiB }, inbound: { bytesPerSecond: 0, messagesPerSecond: 0 }, channels: [{ pattern: 'lossy.*', policy: 'drop-oldest' }] });
    const { budget } = gw.gateway;
    const lossy = await h.connect();
    await lossy.subscribe('lossy.a');
    const lossless = await h.connect();
    await lossless.subscribe('chat.a');
    lossy.tcp.pause();
    lossless.tcp.pause();
    const pub = await h.connect();
    const data = 'z'.repeat(8 * 1024);
    // Fill both queues (kernel buffers first), then push the total over the hard mark with a pool of its own.
    await until(async () => {
      for (let i = 0; i < 20; i++) {
        pub.send({ op: 'pub', ch: 'lossy.a', data });
        pub.send({ op: 'pub', ch: 'chat.a', data });
      }
      await pub.request({ op: 'ping' });
      return budget.pools.outbound.bytes > 1 * MiB;
    }, 'the outbound queues to fill');
    budget.pools.http.add(budget.hard - budget.total + 1);
    expect(budget.pressure).toBe('hard');
    await until(() => gw.gateway.stats.shed.dropped > 0, 'lossy messages to be shed');
    // The paused client cannot read its close frame: the server's own count says who was cut.
    await until(() => gw.gateway.stats.closesByCode.get(4100) !== undefined, 'the largest holder to be closed');
    // Only the lossless subscriber was closed: the lossy one's queue was shed, the publisher holds nothing.
    expect(gw.gateway.stats.closesByCode.get(4100)).toBe(1);
    expect(gw.gateway.connectionList().filter((c) => !c.isClosing)).toHaveLength(2);
    budget.pools.http.sub(budget.pools.http.bytes);
  });
});
