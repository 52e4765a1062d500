import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Gap } from '../../src/client/subscription.js';
import type { WebSocketConstructor } from '../../src/client/transport.js';
import { OrderBooks } from '../../devkit/order-book.js';
import { until } from '../../devkit/until.js';
import { TRANSPORTS } from '../helpers/transports.js';
import { harness } from './support.js';

/** Changes one base64 character in the middle of a delta: its result fails fossil's checksum. */
const corruptDelta = (text: string) =>
  text.replace(/"delta":"([^"]*)"/, (_, d: string) => {
    const i = d.length >> 1;
    return `"delta":"${d.slice(0, i)}${d[i] === 'A' ? 'B' : 'A'}${d.slice(i + 1)}"`;
  });
/** Names a base the client never held. */
const wrongBase = (text: string) => text.replace(/"base":\d+/, '"base":1');

describe.each(TRANSPORTS)('client: deltas [%s]', (transport) => {
  const h = harness(transport);

  it('a delta that does not apply (corrupt, or on a base it does not hold) is a delta gap, the key is fetched again, and values never hold a wrong value', async () => {
    const gw = await h.gateway({ inbound: { messagesPerSecond: 0, bytesPerSecond: 0 }, channels: [{ pattern: 'ob.*', keyed: true, delta: true }] });
    let mangle: ((text: string) => string) | undefined;
    let deltasSeen = 0;
    /** A `ws` that lets the test alter the next delta frame before the client reads it. */
    class Mangling extends WebSocket {
      override emit(event: string | symbol, ...args: unknown[]): boolean {
        if (event === 'message' && args[1] === false) {
          const text = String(args[0]);
          if (text.includes('"delta":"')) {
            deltasSeen++;
            if (mangle !== undefined) {
              args = [Buffer.from(mangle(text)), false];
              mangle = undefined;
            }
          }
        }
        return super.emit(event, ...args);
      }
    }
    const pub = h.client(gw.url);
    const books = new OrderBooks(3, 5);
    const published = new Map<string, Set<string>>();
    const truth = new Map<string, unknown>();
    const put = async (n: number) => {
      const text = books.update(n);
      const key = `I${n}`;
      (published.get(key) ?? published.set(key, new Set()).get(key)!).add(text);
      truth.set(key, JSON.parse(text));
      return pub.publish('ob.q', JSON.parse(text), { key });
    };
    const gaps: Gap[] = [];
    const shown: Array<[string, unknown]> = [];
    const c = h.client(gw.url, { WebSocket: Mangling as unknown as WebSocketConstructor });
    const s = c.subscribe<unknown>('ob.q', { snapshot: true, delta: true, onGap: (g) => gaps.push(g), onMessage: (m) => shown.push([m.key!, m.data]) });
    await s.ready;
    const settle = async (seq: number) => until(() => s.lastSeq === seq, `seq ${seq}`);
    let last = 0;
    for (let i = 0; i < 9; i++) last = (await put(i % 3)).seq;
    await settle(last);
    expect(deltasSeen).toBe(6); // each key's first change came whole, the next ones as deltas
    expect(new Map(s.values)).toEqual(truth);

    mangle = corruptDelta;
    const corrupt = await put(0);
    await until(() => JSON.stringify(s.values.get('I0')) === books.text(0), 'I0 fetched again');
    mangle = wrongBase;
    const unheld = await put(1);
    await until(() => JSON.stringify(s.values.get('I1')) === books.text(1), 'I1 fetched again');
    expect(gaps.map((g) => [g.reason, g.from, g.to])).toEqual([['delta', corrupt.seq, corrupt.seq], ['delta', unheld.seq, unheld.seq]]);

    // The next change of each refetched key comes whole, then deltas again; values end exact.
    const before = deltasSeen;
    for (let i = 0; i < 6; i++) last = (await put(i % 3)).seq;
    await settle(last);
    expect(deltasSeen - before).toBe(4);
    expect(new Map(s.values)).toEqual(truth);
    // Every value the client showed was one the publisher published for that key.
    for (const [key, data] of shown) expect(published.get(key)!.has(JSON.stringify(data)), `${key}: ${JSON.stringify(data).slice(0, 60)}`).toBe(true);
  });
});
