import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CLOSE } from '../../src/protocol/close-codes.js';
import { ERRORS } from '../../src/protocol/errors.js';
import { CHANNEL_NAME } from '../../src/protocol/channel-name.js';
import { decodeRequest } from '../../src/protocol/requests.js';
import { TestClient } from '../helpers/client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { TRANSPORTS } from '../helpers/transports.js';

/** Request-shaped objects: a known or unknown op, plausible and implausible field values. */
const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 200 }), fc.integer(), fc.double(), fc.constant(null));
const channelish = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_.:@-]{1,20}$/),
  fc.string({ maxLength: 140 }),
  fc.constantFrom('', '..', 'a..b', 'chat.*', 'user:{sub}', 'a/b', 'chat.r\u043eom', 'x'.repeat(129), '\u0000', ' chat'),
);
const requestish = fc.record(
  {
    op: fc.oneof(fc.constantFrom('sub', 'unsub', 'pub', 'ping', 'auth'), fc.string({ maxLength: 8 }), anyValue),
    ch: fc.oneof(channelish, anyValue),
    id: fc.oneof(fc.nat(), fc.string({ maxLength: 70 }), fc.integer({ min: -5, max: -1 }), fc.double(), anyValue),
    data: anyValue,
    key: fc.oneof(fc.string({ maxLength: 130 }), anyValue),
    token: fc.oneof(fc.string({ maxLength: 100 }), anyValue),
    since: fc.oneof(fc.record({ epoch: fc.string({ maxLength: 70 }), seq: fc.oneof(fc.nat(), fc.integer(), fc.double()) }), anyValue),
  },
  { requiredKeys: [] },
);
/** Text frames: request-shaped JSON, arbitrary JSON, arbitrary strings, truncated JSON. */
const textFrame = fc.oneof(
  requestish.map((r) => JSON.stringify(r)),
  fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null'),
  fc.string({ maxLength: 300 }),
  requestish.chain((r) => {
    const s = JSON.stringify(r);
    return fc.nat({ max: s.length }).map((n) => s.slice(0, n));
  }),
);

describe('frame decoder (property)', () => {
  it('never throws; every refusal is a catalogued code; every acceptance is a well-formed request', () => {
    fc.assert(
      fc.property(textFrame, (text) => {
        const result = decodeRequest(text);
        if (!result.ok) {
          expect(Object.keys(ERRORS)).toContain(result.code);
          expect(typeof result.message).toBe('string');
          return;
        }
        const parsed = JSON.parse(text) as Record<string, unknown>;
        const r = result.request;
        expect(r.op).toBe(parsed.op);
        if ('ch' in r) expect(r.ch).toMatch(CHANNEL_NAME);
        if (r.id !== undefined) expect(r.id).toEqual(parsed.id);
        if (r.op === 'pub') expect(JSON.parse(r.rawData)).toEqual(parsed.data);
        if (r.op === 'auth') expect(typeof r.token).toBe('string');
      }),
      { numRuns: 5000 },
    );
  });
});

describe.each(TRANSPORTS)('random frames over a real socket [%s]', (transport) => {
  let gw: TestGateway;
  let watcher: TestClient;
  let publisher: TestClient;
  let published = 0;
  const documentedCloses = new Set<number>([...Object.values(CLOSE).map((c) => c.code), 1005, 1006]);

  beforeAll(async () => {
    gw = await startGateway({ limits: { maxPayloadBytes: 4096 }, inbound: { bytesBurst: 8192 } }, transport);
    watcher = await TestClient.connect(gw.url);
    await watcher.subscribe('chat.calm');
    publisher = await TestClient.connect(gw.url);
  });
  afterAll(async () => {
    watcher?.terminate();
    publisher?.terminate();
    await gw?.stop();
  });

  it('never crashes or stalls the server: every fuzzer gets answers or a documented close, bystanders keep receiving', async () => {
    const frame = fc.oneof(
      { weight: 8, arbitrary: textFrame.map((t) => ({ text: t })) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => ({ binary: Buffer.from(b) })) },
      { weight: 1, arbitrary: fc.integer({ min: 4000, max: 6000 }).map((n) => ({ text: `{"op":"pub","ch":"a","data":"${'x'.repeat(n)}"}` })) },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 40 }), async (frames) => {
        const fuzzer = await TestClient.connect(gw.url);
        for (const f of frames) {
          if (fuzzer.ws.readyState !== WebSocket.OPEN) break;
          if ('binary' in f) fuzzer.ws.send(f.binary);
          else fuzzer.ws.send(f.text);
        }
        // A ping after the frames: either it is answered (the server read and handled everything
        // before it) or the connection was closed with a documented code.
        const outcome = await Promise.race([
          fuzzer.ws.readyState === WebSocket.OPEN ? fuzzer.request({ op: 'ping' }).then(() => 'pong' as const, () => 'no answer' as const) : new Promise<never>(() => {}),
          fuzzer.closed(15_000).then((code) => code, () => 'no close' as const),
        ]);
        expect(outcome === 'pong' || (typeof outcome === 'number' && documentedCloses.has(outcome)), `outcome ${outcome}`).toBe(true);
        for (const f of fuzzer.frames) if (f.ev === 'err') expect(Object.keys(ERRORS)).toContain(f.code);
        fuzzer.terminate();
        published++;
        await publisher.request({ op: 'pub', ch: 'chat.calm', data: published });
        await watcher.next((f) => f.ev === 'msg' && f.data === published);
      }),
      { numRuns: 40 },
    );
    expect(watcher.closeCode).toBeUndefined();
  });
});

describe('HTTP publish API bodies (property)', () => {
  let gw: TestGateway;
  const KEY = 'fuzz-key-0123456789abcdef';
  beforeAll(async () => {
    gw = await startGateway({ httpApi: { apiKeys: [KEY], maxBodyBytes: 4096, publicationsPerSecond: 0, maxBatch: 5 }, limits: { maxPayloadBytes: 1024 } });
  });
  afterAll(() => gw?.stop());

  it('answers every body with 202 or a documented 4xx naming the problem, never 5xx', async () => {
    const publication = fc.record({ ch: channelish, data: anyValue, key: fc.oneof(fc.string({ maxLength: 130 }), anyValue) }, { requiredKeys: [] });
    const body = fc.oneof(
      publication.map((p) => JSON.stringify(p)),
      fc.array(publication, { maxLength: 7 }).map((publications) => JSON.stringify({ publications })),
      fc.jsonValue().map((v) => JSON.stringify(v) ?? ''),
      fc.string({ maxLength: 200 }),
      fc.integer({ min: 4000, max: 6000 }).map((n) => JSON.stringify({ ch: 'a.b', data: 'x'.repeat(n) })),
    );
    await fc.assert(
      fc.asyncProperty(body, fc.boolean(), async (text, batch) => {
        const res = await fetch(`${gw.httpUrl}${batch ? '/api/publish/batch' : '/api/publish'}`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
          body: text,
        });
        expect([202, 400, 413]).toContain(res.status);
        if (res.status === 400) expect(((await res.json()) as { error: string }).error).toMatch(/^[\w.]+: /);
        else await res.arrayBuffer();
      }),
      { numRuns: 300 },
    );
    expect((await fetch(`${gw.httpUrl}/healthz`)).status).toBe(200);
  });
});
