import { describe, expect, it } from 'vitest';
import type { Frame, TestClient } from '../helpers/client.js';
import type { TestGateway } from '../helpers/gateway.js';
import { gatewayHarness } from '../helpers/harness.js';
import { TRANSPORTS } from '../helpers/transports.js';
import { until } from '../../devkit/until.js';

const KEY = 'backend-key-0123456789abcdef';

interface Report {
  ch: string;
  seq: number;
  subscribers: number;
  written: number;
  queued: number;
  shed: number;
  disconnected: number;
}

describe.each(TRANSPORTS)('HTTP publish API [%s]', (transport) => {
  let gw: TestGateway | undefined;
  const h = gatewayHarness(transport);
  const connect = (): Promise<TestClient> => h.connect();
  const post = (path: string, body: unknown, headers: Record<string, string> = { Authorization: `Bearer ${KEY}` }) =>
    fetch(`${gw!.httpUrl}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('publishes to subscribers, server-only channels included, and answers 202 with a report', async () => {
    gw = await h.start({ httpApi: { apiKeys: [KEY] }, auth: { namespaces: [{ pattern: 'news.*', publish: 'server' }] } });
    const subs = [await connect(), await connect()];
    for (const s of subs) await s.subscribe('news.headlines');
    const res = await post('/api/publish', { ch: 'news.headlines', data: { title: 'hello' }, key: 'k1' });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ results: [{ ch: 'news.headlines', seq: 1, subscribers: 2, written: 2, queued: 0, shed: 0, disconnected: 0 }] });
    for (const s of subs) expect(await s.next((f) => f.ev === 'msg')).toMatchObject({ ch: 'news.headlines', seq: 1, key: 'k1', data: { title: 'hello' } });
    const batch = await post('/api/publish/batch', { publications: [{ ch: 'news.headlines', data: 2 }, { ch: 'news.other', data: 3 }] });
    expect(batch.status).toBe(202);
    expect(((await batch.json()) as { results: Report[] }).results.map((r) => [r.ch, r.seq, r.subscribers])).toEqual([['news.headlines', 2, 2], ['news.other', 1, 0]]);
    // The same channel is server-only for WebSocket clients.
    expect(await subs[0]!.request({ op: 'pub', ch: 'news.headlines', data: 'x' })).toMatchObject({ code: 'forbidden' });
  });

  it('publishes a request retried with the same pid once, answering the seq it was given', async () => {
    gw = await h.start({ httpApi: { apiKeys: [KEY] } });
    const sub = await connect();
    await sub.subscribe('orders.eu');
    const seqs = [];
    for (const data of ['a', 'a', 'b']) {
      const res = await post('/api/publish', { ch: 'orders.eu', pid: `order-${data}`, data });
      seqs.push(((await res.json()) as { results: Report[] }).results[0]!.seq);
    }
    const batch = await post('/api/publish/batch', { publications: [{ ch: 'orders.eu', pid: 'order-b', data: 'b' }, { ch: 'orders.eu', data: 'c' }] });
    seqs.push(...((await batch.json()) as { results: Report[] }).results.map((r) => r.seq));
    expect(seqs).toEqual([1, 1, 2, 2, 3]);
    await sub.next((f) => f.ev === 'msg' && f.data === 'c');
    expect(sub.messages('orders.eu').map((m) => m.data)).toEqual(['a', 'b', 'c']);
  });

  it('refuses bad keys with 401 and is 404 when off', async () => {
    gw = await h.start({ httpApi: { apiKeys: [KEY, 'second-key-for-rotation-xx'] } });
    const body = { ch: 'a.b', data: 1 };
    expect((await post('/api/publish', body, {})).status).toBe(401);
    expect((await post('/api/publish', body, { Authorization: `Bearer ${KEY.slice(0, -1)}x` })).status).toBe(401);
    expect((await post('/api/publish', body, { Authorization: `Bearer ${KEY}${KEY}` })).status).toBe(401);
    expect((await post('/api/publish', body, { Authorization: `Basic ${KEY}` })).status).toBe(401);
    expect((await post('/api/publish', body, { 'X-Api-Key': 'second-key-for-rotation-xx' })).status).toBe(202);
    expect((await fetch(`${gw.httpUrl}/api/publish`, { headers: { Authorization: `Bearer ${KEY}` } })).status).toBe(405);
    await gw.stop();
    gw = await h.start({});
    expect((await post('/api/publish', body)).status).toBe(404);
  });

  it.each([
    ['not JSON', '{"ch":', /body: not valid JSON/],
    ['a JSON array', '[1,2]', /body|expected object/],
    ['no channel', { data: 1 }, /^ch: /],
    ['a bad channel', { ch: 'a b', data: 1 }, /^ch: must match/],
    ['a wildcard channel', { ch: 'news.*', data: 1 }, /^ch: must match/],
    ['no data', { ch: 'a.b' }, /^data: required/],
    ['an empty key', { ch: 'a.b', data: 1, key: '' }, /^key: /],
    ['a pid over 64 characters', { ch: 'a.b', data: 1, pid: 'p'.repeat(65) }, /^pid: /],
    ['oversized data', { ch: 'a.b', data: 'x'.repeat(70_000) }, /^data: larger than limits.maxPayloadBytes/],
  ])('answers 400 naming the field for %s', async (_name, body, message) => {
    gw = await h.start({ httpApi: { apiKeys: [KEY] } });
    const res = await post('/api/publish', body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(message);
  });

  it('answers 400 naming the entry of a bad batch, 413 for a huge body, 415 for another content type', async () => {
    gw = await h.start({ httpApi: { apiKeys: [KEY], maxBatch: 3, maxBodyBytes: 4096 } });
    const bad = await post('/api/publish/batch', { publications: [{ ch: 'a.b', data: 1 }, { ch: 'a..b/', data: 1 }] });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/^publications\.1\.ch: /);
    const tooMany = await post('/api/publish/batch', { publications: Array.from({ length: 4 }, () => ({ ch: 'a.b', data: 1 })) });
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as { error: string }).error).toMatch(/^publications: /);
    expect((await post('/api/publish/batch', { publications: [] })).status).toBe(400);
    expect((await post('/api/publish', { ch: 'a.b', data: 'x'.repeat(5000) })).status).toBe(413);
    expect((await post('/api/publish', 'ch=a.b', { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/x-www-form-urlencoded' })).status).toBe(415);
    expect(gw.gateway.hub.publications).toBe(0);
  });

  it('stops reading a chunked body at maxBodyBytes and answers 413', async () => {
    gw = await h.start({ httpApi: { apiKeys: [KEY], maxBodyBytes: 4096 } });
    const chunk = new TextEncoder().encode('x'.repeat(1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        // Bounded: far more than the limit, far less than would matter if the server kept reading.
        if (++sent > 64) controller.close();
        else controller.enqueue(chunk);
      },
    });
    const res = await fetch(`${gw.httpUrl}/api/publish`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit).catch((err: Error) => err);
    // The server may answer before the upload ends (413) or cut the connection while it is still sending.
    if (res instanceof Error) expect(gw.gateway.hub.publications).toBe(0);
    else expect(res.status).toBe(413);
    expect((await fetch(`${gw.httpUrl}/healthz`)).status).toBe(200);
  });

  it('reads bodies within limits.httpBodyBytesPerTurn: a request past it stops reading and reads on in a later turn, every publication intact', async () => {
    // One byte a turn: every body stops reading after each chunk that is not its last (a body of
    // ~960 KB comes in several: uWS reads at most 512 KiB, node:http 64 KiB, per socket and turn).
    gw = await h.start({ httpApi: { apiKeys: [KEY], maxBatch: 32 }, limits: { httpBodyBytesPerTurn: 1 } });
    const sub = await connect();
    await sub.subscribe('bulk.x');
    const data = (i: number, j: number): string => `${i}.${j}.`.padEnd(30_000, 'z');
    const bodies = Array.from({ length: 4 }, (_, i) => ({ publications: Array.from({ length: 32 }, (_, j) => ({ ch: 'bulk.x', data: data(i, j) })) }));
    const answers = await Promise.all(bodies.map((body) => post('/api/publish/batch', body)));
    expect(answers.map((r) => r.status)).toEqual([202, 202, 202, 202]);
    await until(() => sub.messages('bulk.x').length === 128, 'all 128 publications delivered');
    expect(new Set(sub.messages('bulk.x').map((m) => m.data))).toEqual(new Set(bodies.flatMap((b) => b.publications.map((p) => p.data))));
    expect(gw.gateway.stats.readPauses.http_body_bytes_per_turn).toBeGreaterThanOrEqual(4);
  });

  it('answers 429 with Retry-After when its token bucket is empty, counting one token per publication', async () => {
    gw = await h.start({ httpApi: { apiKeys: [KEY], publicationsPerSecond: 0.5, publicationsBurst: 3, maxBatch: 3 } });
    expect((await post('/api/publish/batch', { publications: [{ ch: 'a.b', data: 1 }, { ch: 'a.b', data: 2 }] })).status).toBe(202);
    const refused = await post('/api/publish/batch', { publications: [{ ch: 'a.b', data: 3 }, { ch: 'a.b', data: 4 }] });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await post('/api/publish', { ch: 'a.b', data: 5 })).status).toBe(202);
    expect(gw.gateway.hub.publications).toBe(3);
  });

  it('answers 503 with Retry-After while outbound queues hold more than overloadQueuedBytes', async () => {
    gw = await h.start({
      httpApi: { apiKeys: [KEY], overloadQueuedBytes: 1024 },
      outbound: { highWaterMarkBytes: 16 * 1024, softQueueBytes: 0 },
      inbound: { messagesPerSecond: 0, bytesPerSecond: 0 },
      channels: [{ pattern: 'feed.*', policy: 'drop-oldest', historySize: 0 }],
    });
    const stalled = await connect();
    await stalled.subscribe('feed.x');
    stalled.tcp.pause();
    const pub = await connect();
    const payload = 'y'.repeat(8000);
    const queued = () => gw!.gateway.connectionList().reduce((n, c) => n + c.writer.queuedBytes, 0);
    for (let i = 0; i < 5000 && queued() <= 1024; i++) await pub.request({ op: 'pub', ch: 'feed.x', data: payload });
    expect(queued()).toBeGreaterThan(1024);
    const res = await post('/api/publish', { ch: 'feed.x', data: 1 });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
  });

  it('reports written, queued and shed per publication, matching the gaps subscribers see', async () => {
    gw = await h.start({
      httpApi: { apiKeys: [KEY], publicationsPerSecond: 0, maxBatch: 50, overloadQueuedBytes: 0 },
      outbound: { maxQueueBytes: 64 * 1024, maxQueueMessages: 10_000, softQueueBytes: 0, highWaterMarkBytes: 16 * 1024 },
      channels: [{ pattern: 'feed.*', policy: 'drop-newest', historySize: 0 }],
    });
    const reading = await connect();
    const stalled = await connect();
    for (const c of [reading, stalled]) await c.subscribe('feed.x');
    stalled.tcp.pause();
    const reports: Report[] = [];
    const total = (k: keyof Report) => reports.reduce((n, r) => n + (r[k] as number), 0);
    const publications = Array.from({ length: 50 }, (_, i) => ({ ch: 'feed.x', data: { i, pad: 'z'.repeat(4000) } }));
    for (let round = 0; round < 400 && (total('shed') === 0 || total('queued') === 0); round++) {
      const res = await post('/api/publish/batch', { publications });
      expect(res.status).toBe(202);
      reports.push(...((await res.json()) as { results: Report[] }).results);
    }
    for (const r of reports) {
      expect(r.subscribers).toBe(2);
      expect(r.written + r.queued + r.shed + r.disconnected).toBe(2);
    }
    expect(total('written')).toBeGreaterThan(0);
    expect(total('queued')).toBeGreaterThan(0);
    expect(total('shed')).toBeGreaterThan(0);
    expect(total('disconnected')).toBe(0);
    stalled.tcp.resume();
    await until(() => gw!.gateway.connectionList().every((c) => c.writer.idle), 'every writer idle');
    const marker = await post('/api/publish', { ch: 'feed.x', data: 'end' });
    const last = ((await marker.json()) as { results: Report[] }).results[0]!.seq;
    const gapsSeen = (c: TestClient) => c.frames.filter((f: Frame) => f.ev === 'gap').reduce((n, f) => n + (f.n as number), 0);
    for (const c of [reading, stalled]) await c.next((f) => f.ev === 'msg' && f.seq === last, 30_000);
    expect(gapsSeen(reading) + gapsSeen(stalled)).toBe(total('shed'));
    expect(reading.messages('feed.x').length + stalled.messages('feed.x').length).toBe(2 * last - total('shed'));
  });

  it('reports disconnected when a slow subscriber of a lossless channel is cut off', async () => {
    gw = await h.start({
      httpApi: { apiKeys: [KEY], publicationsPerSecond: 0, maxBatch: 50, overloadQueuedBytes: 0 },
      outbound: { maxQueueBytes: 64 * 1024, softQueueBytes: 0, highWaterMarkBytes: 16 * 1024 },
    });
    const stalled = await connect();
    await stalled.subscribe('chat.x');
    stalled.tcp.pause();
    const publications = Array.from({ length: 50 }, () => ({ ch: 'chat.x', data: 'w'.repeat(4000) }));
    let disconnected = 0;
    for (let round = 0; round < 400 && disconnected === 0; round++) {
      const res = await post('/api/publish/batch', { publications });
      disconnected += ((await res.json()) as { results: Report[] }).results.reduce((n, r) => n + r.disconnected, 0);
    }
    expect(disconnected).toBeGreaterThan(0);
    stalled.tcp.resume();
    expect(await stalled.closed()).toBe(4100);
  });
});
