import { describe, expect, it } from 'vitest';
import type { ClientOptions } from '../../src/client/client.js';
import type { Gap, SnapshotInfo } from '../../src/client/subscription.js';
import { until } from '../../devkit/until.js';
import { TRANSPORTS } from '../helpers/transports.js';
import { gate, harness, nextEvent, recordingWebSocket } from './support.js';

describe.each(TRANSPORTS)('client: keyed channels [%s]', (transport) => {
  const h = harness(transport);
  const client = (url: string, options: ClientOptions = {}) => h.client(url, { reconnect: { initialDelayMs: 10, maxDelayMs: 50 }, ...options });

  it('keeps values (key → latest value) from the snapshot and every change, and falls back to a snapshot on a resume history cannot serve', async () => {
    const gw = await h.gateway({ channels: [{ pattern: 'px.*', keyed: true, historySize: 5, snapshotChunkBytes: 1024 }] });
    const pub = client(gw.url);
    const truth = new Map<string, unknown>();
    const put = async (key: string, data: unknown) => {
      truth.set(key, data);
      return pub.publish('px.q', data, { key });
    };
    const del = async (key: string) => {
      truth.delete(key);
      return pub.publish('px.q', null, { key, del: true });
    };
    for (let i = 0; i < 60; i++) await put(`k${i % 20}`, { i, pad: 'p'.repeat(40) });
    await del('k3');

    const ws = recordingWebSocket();
    const snapshots: SnapshotInfo[] = [];
    const gaps: Gap[] = [];
    let tokenGate = gate();
    tokenGate.open();
    const sub = client(gw.url, { WebSocket: ws.Impl, getToken: async () => (await tokenGate.promise, 'tok') });
    const s = sub.subscribe('px.q', { snapshot: true, onSnapshot: (info) => snapshots.push(info), onGap: (g) => gaps.push(g) });
    await s.ready;
    await until(() => snapshots.length === 1, 'the first snapshot');
    expect(snapshots[0]).toMatchObject({ channel: 'px.q', seq: 61, resumed: false });
    expect(new Map(s.values)).toEqual(truth);

    const last = await put('k5', 'live');
    await del('k6');
    await until(() => s.lastSeq === last.seq + 1, 'the live changes');
    expect(new Map(s.values)).toEqual(truth);

    tokenGate = gate(); // the next connection attempt waits until the test lets it go
    ws.sockets.at(-1)!.terminate();
    await nextEvent(sub, 'disconnected');
    for (let i = 0; i < 30; i++) await put(`k${i % 25}`, { again: i }); // more than history holds
    await del('k1');
    tokenGate.open();
    await until(() => snapshots.length === 2, 'the fallback snapshot');
    expect(snapshots[1]).toMatchObject({ resumed: true, seq: last.seq + 32 });
    expect(new Map(s.values)).toEqual(truth);
    expect(gaps).toEqual([]); // the state is whole: nothing is reported lost
  });

  it('with maxRate, values still ends exact: the newest value of every key arrives, the skipped ones are conflated gaps', async () => {
    const gw = await h.gateway({ inbound: { messagesPerSecond: 0, bytesPerSecond: 0 }, channels: [{ pattern: 'px.*', keyed: true }] });
    const pub = client(gw.url);
    const gaps: Gap[] = [];
    const sub = client(gw.url);
    const s = sub.subscribe<number>('px.m', { snapshot: true, maxRate: 5, onGap: (g) => gaps.push(g) });
    await s.ready;
    const acks = [];
    for (let i = 0; i < 300; i++) acks.push(pub.publish('px.m', i, { key: `k${i % 4}` }));
    const last = await Promise.all(acks);
    await until(() => s.lastSeq === last.at(-1)!.seq, 'the last update');
    expect(new Map(s.values)).toEqual(new Map([['k0', 296], ['k1', 297], ['k2', 298], ['k3', 299]]));
    expect(s.counters.messages).toBeLessThan(300);
    expect(gaps.length).toBeGreaterThan(0);
    expect(gaps.every((g) => g.reason === 'conflated')).toBe(true);
  });
});
