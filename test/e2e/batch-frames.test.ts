import { describe, expect, it } from 'vitest';
import { clientFrame } from '../../devkit/wire-client.js';
import { until } from '../../devkit/until.js';
import { batchCounts } from '../../src/transport/batch-join.js';
import type { TestClient } from '../helpers/client.js';
import { gatewayHarness } from '../helpers/harness.js';
import { TestKeys } from '../helpers/tokens.js';
import { TRANSPORTS } from '../helpers/transports.js';

const BATCH = ['sluice', 'sluice.batch'];
const UNLIMITED = { inbound: { messagesPerSecond: 0, bytesPerSecond: 0 } };

/** `n` publications to `ch` in one TCP write: the gateway reads them in one turn (or a few). */
function burst(publisher: TestClient, ch: string, n: number, data = (i: number) => `{"i":${i}}`): void {
  const frames: Buffer[] = [];
  for (let i = 1; i <= n; i++) frames.push(clientFrame(`{"op":"pub","ch":"${ch}","data":${data(i)}}`));
  publisher.tcp.write(Buffer.concat(frames));
}

const seqs = (c: TestClient, ch: string): unknown[] => c.frames.filter((f) => f.ev === 'msg' && f.ch === ch).map((f) => f.seq);
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

describe.each(TRANSPORTS)('batch frames [%s]', (transport) => {
  const h = gatewayHarness(transport);

  /** A subscriber that offers `sluice.batch`, one that does not, both on `ch`, and a publisher. */
  const batchingAndPlain = async (ch: string): Promise<{ batching: TestClient; plain: TestClient; publisher: TestClient }> => {
    const batching = await h.connect({ offer: BATCH });
    const plain = await h.connect({ offer: ['sluice'] });
    const publisher = await h.connect();
    for (const c of [batching, plain]) await c.subscribe(ch);
    return { batching, plain, publisher };
  };

  it('selects sluice.batch only when offered, in any order and beside a bearer token, and not with batchMaxBytes 0', async () => {
    const keys = await TestKeys.generate();
    await h.start({ auth: { keys: keys.config } });
    const token = await keys.sign({ sub: 'alice' });
    const offered = async (protocols: string[] | undefined, headers: Record<string, string> = {}): Promise<string> => {
      const c = await h.connect({ headers, offer: protocols });
      // Auth is on: the hello says the token was found and verified.
      await c.next((f) => f.ev === 'hello');
      return c.ws.protocol;
    };
    const bearer = { Authorization: `Bearer ${token}` };
    expect(await offered(['sluice', 'sluice.batch'], bearer)).toBe('sluice.batch');
    expect(await offered(['sluice.batch', 'sluice'], bearer)).toBe('sluice.batch');
    expect(await offered(['sluice'], bearer)).toBe('sluice');
    expect(await offered(undefined, bearer)).toBe('');
    expect(await offered([`bearer.${token}`, 'sluice.batch', 'sluice'])).toBe('sluice.batch');
    expect(await offered(['sluice', `bearer.${token}`])).toBe('sluice');
    expect(await offered([`bearer.${token}`])).toBe(`bearer.${token}`);
    await h.start({ auth: { keys: keys.config }, outbound: { batchMaxBytes: 0 } });
    expect(await offered(['sluice', 'sluice.batch'], bearer)).toBe('sluice');
    expect(await offered(['sluice.batch', `bearer.${token}`])).toBe(`bearer.${token}`);
    // Offered alone, it is not selected and nothing else is: a client (a browser too) fails such a handshake.
    await expect(h.connect({ headers: bearer, offer: ['sluice.batch'] })).rejects.toThrow('no subprotocol');
  });

  it('a burst arrives in fewer frames than messages on a batching connection, every seq in order; one event per frame without the offer', async () => {
    await h.start(UNLIMITED);
    const { batching, plain, publisher } = await batchingAndPlain('burst');
    const before = { batching: batching.wireTexts.length, plain: plain.wireTexts.length };
    const N = 300;
    burst(publisher, 'burst', N);
    await until(() => seqs(batching, 'burst').length === N && seqs(plain, 'burst').length === N, 'every message delivered');
    expect(seqs(batching, 'burst')).toEqual(range(N));
    expect(seqs(plain, 'burst')).toEqual(range(N));
    expect(batching.wireTexts.length - before.batching).toBeLessThan(N / 4);
    expect(plain.wireTexts.length - before.plain).toBe(N);
    expect(plain.wireTexts.every((t) => !t.includes('\n'))).toBe(true);
  });

  it("a connection's acks, errors and pongs arrive in order with its messages", async () => {
    await h.start(UNLIMITED);
    const batching = await h.connect({ offer: BATCH });
    const plain = await h.connect({ offer: ['sluice'] });
    const script = (c: TestClient, ch: string): void => {
      const frames: Buffer[] = [];
      for (let i = 1; i <= 60; i++) {
        if (i % 10 === 0) frames.push(clientFrame('{"op":"nonsense"}'));
        else if (i % 7 === 0) frames.push(clientFrame(`{"op":"ping","id":${i}}`));
        else frames.push(clientFrame(`{"op":"pub","ch":"${ch}","id":${i},"data":${i}}`));
      }
      c.tcp.write(Buffer.concat(frames));
    };
    const order = (c: TestClient): string[] => c.frames.slice(2).map((f) => `${f.ev}:${String(f.id ?? f.seq ?? f.code)}`);
    // 46 publications (an ack and a msg each), 6 errors, 8 pongs, after the hello and the subscription's ack.
    for (const [c, ch] of [
      [batching, 'ordered.a'],
      [plain, 'ordered.b'],
    ] as const) {
      await c.subscribe(ch);
      script(c, ch);
      await until(() => c.frames.length === 2 + 106, 'every reply and message');
    }
    expect(batching.wireTexts.length).toBeLessThan(plain.wireTexts.length);
    expect(order(batching)).toEqual(order(plain));
    expect(order(batching).filter((e) => e.startsWith('err')).length).toBe(6);
  });

  it('cuts batch frames at outbound.batchMaxBytes; an event larger than that goes alone', async () => {
    const cap = 1024;
    await h.start({ ...UNLIMITED, outbound: { batchMaxBytes: cap } });
    const batching = await h.connect({ offer: BATCH });
    const publisher = await h.connect();
    await batching.subscribe('capped');
    const before = batching.wireTexts.length;
    const N = 200;
    burst(publisher, 'capped', N, (i) => (i === 100 ? `"${'x'.repeat(2 * cap)}"` : `"${'y'.repeat(100)}"`));
    await until(() => seqs(batching, 'capped').length === N, 'every message delivered');
    expect(seqs(batching, 'capped')).toEqual(range(N));
    const frames = batching.wireTexts.slice(before);
    const joined = frames.filter((t) => t.includes('\n'));
    expect(joined.length).toBeGreaterThan(0);
    for (const t of joined) expect(Buffer.byteLength(t)).toBeLessThanOrEqual(cap);
    expect(frames.filter((t) => Buffer.byteLength(t) > cap)).toEqual([expect.stringContaining('x'.repeat(2 * cap))]);
  });

  it("a publisher's data with whitespace newlines arrives on one line, as valid JSON, batching or not", async () => {
    await h.start(UNLIMITED);
    const { batching, plain, publisher } = await batchingAndPlain('lines');
    burst(publisher, 'lines', 20, (i) => `{\n  "i": ${i},\r\n  "s": "a\\nb"\n}`);
    await until(() => seqs(batching, 'lines').length === 20 && seqs(plain, 'lines').length === 20, 'every message delivered');
    for (const c of [batching, plain]) {
      const msgs = c.frames.filter((f) => f.ev === 'msg');
      expect(msgs.map((f) => f.data)).toEqual(range(20).map((i) => ({ i, s: 'a\nb' })));
      expect(c.texts.filter((t) => t.includes('\n'))).toEqual([]);
    }
  });

  it('caught-up subscribers share one batch: the bytes are joined once per turn, not per subscriber', async () => {
    await h.start(UNLIMITED);
    const SUBSCRIBERS = 5;
    const subscribers: TestClient[] = [];
    for (let i = 0; i < SUBSCRIBERS; i++) subscribers.push(await h.connect({ offer: BATCH }));
    const publisher = await h.connect();
    for (const c of subscribers) await c.subscribe('shared');
    const start = { ...batchCounts };
    const N = 200;
    burst(publisher, 'shared', N);
    await until(() => subscribers.every((c) => seqs(c, 'shared').length === N), 'every message delivered');
    const joins = batchCounts.joins - start.joins;
    const shared = batchCounts.shared - start.shared;
    expect(joins).toBeGreaterThan(0);
    expect(shared).toBe((SUBSCRIBERS - 1) * joins);
    for (const c of subscribers) expect(seqs(c, 'shared')).toEqual(range(N));
  });
});
