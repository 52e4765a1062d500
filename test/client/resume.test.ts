import { describe, expect, it } from 'vitest';
import type { ClientOptions, SluiceClient } from '../../src/client/client.js';
import { ClientClosedError, ConnectionLostError, OfflineError } from '../../src/client/errors.js';
import { TRANSPORTS } from '../helpers/transports.js';
import { collector, freePort, gate, harness, nextEvent, recordingWebSocket } from './support.js';

describe.each(TRANSPORTS)('client resume and gaps [%s]', (transport) => {
  const h = harness(transport);
  const start = h.gateway;
  const client = (url: string, options: ClientOptions = {}) => h.client(url, { reconnect: { initialDelayMs: 10, maxDelayMs: 50 }, ...options });
  const publishMany = async (c: SluiceClient, ch: string, n: number) => {
    for (let i = 0; i < n; i++) await c.publish(ch, { i });
  };

  it('reports exactly the range history no longer holds when a resume comes too late', async () => {
    const gw = await start({ channelDefaults: { historySize: 5 } });
    const ws = recordingWebSocket();
    let tokenGate = gate();
    tokenGate.open();
    const sub = client(gw.url, { WebSocket: ws.Impl, getToken: async () => (await tokenGate.promise, 'tok') });
    const pub = client(gw.url);
    const got = collector();
    await sub.subscribe('chat.late', got).ready;
    await publishMany(pub, 'chat.late', 10);
    await got.until(10);
    tokenGate = gate(); // the next connection attempt waits until the test lets it go
    ws.sockets.at(-1)!.terminate();
    await nextEvent(sub, 'disconnected');
    await publishMany(pub, 'chat.late', 20); // seqs 11..30; history keeps 26..30
    tokenGate.open();
    await got.until(11);
    expect(got.gaps).toEqual([{ type: 'gap', channel: 'chat.late', from: 11, to: 30, n: 20, reason: 'unrecoverable', epoch: expect.any(String) }]);
    await pub.publish('chat.late', 'after');
    await got.until(12);
    expect(got.seqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 31]);
  });

  it('across a gateway restart reports the unrecoverable range through onGap, with the lost epoch', async () => {
    const port = await freePort();
    let gw = await start({ port });
    let tokenGate = gate();
    tokenGate.open();
    const tokens: number[] = [];
    const sub = client(gw.url, { getToken: async () => (tokens.push(tokens.length), await tokenGate.promise, `t${tokens.length}`) });
    const got = collector();
    const s = sub.subscribe('chat.restart', got);
    await s.ready;
    const firstEpoch = s.epoch;
    const pub1 = client(gw.url, { reconnect: { enabled: false } });
    await publishMany(pub1, 'chat.restart', 10);
    await got.until(10);

    tokenGate = gate();
    const reconnecting = nextEvent(sub, 'disconnected');
    await gw.stop();
    expect((await reconnecting).code).toBe(4200);
    gw = await start({ port });
    const pub2 = client(gw.url);
    await publishMany(pub2, 'chat.restart', 5); // the new gateway's channel: a new epoch, seqs 1..5
    tokenGate.open();
    await got.until(11);
    expect(got.gaps).toHaveLength(1);
    const gap = got.gaps[0]!;
    expect(gap).toEqual({
      type: 'gap',
      channel: 'chat.restart',
      from: 1,
      to: 5,
      n: 5,
      reason: 'unrecoverable',
      epoch: s.epoch,
      previous: { epoch: firstEpoch, seq: 10 },
    });
    expect(gap.epoch).not.toBe(firstEpoch);
    await pub2.publish('chat.restart', 'live');
    await got.until(12);
    expect(got.seqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 6]);
    expect(tokens.length).toBeGreaterThanOrEqual(2); // getToken ran again before reconnecting
  });

  it('is an async iterator of messages and gaps, across a reconnect', async () => {
    const gw = await start();
    const ws = recordingWebSocket();
    const sub = client(gw.url, { WebSocket: ws.Impl });
    const pub = client(gw.url);
    const s = sub.subscribe<{ i: number }>('chat.iter');
    await s.ready;
    const seen: string[] = [];
    const consuming = (async () => {
      for await (const ev of s) {
        seen.push(ev.type === 'message' ? `m${ev.data.i}` : `gap ${ev.from}-${ev.to}`);
        if (seen.length === 6) break;
      }
    })();
    await publishMany(pub, 'chat.iter', 3);
    ws.sockets.at(-1)!.terminate(); // resumes with since: nothing lost, nothing twice
    await nextEvent(sub, 'connected');
    await publishMany(pub, 'chat.iter', 3);
    await consuming;
    expect(seen).toEqual(['m0', 'm1', 'm2', 'm0', 'm1', 'm2']);
    expect(s.counters).toMatchObject({ messages: 6, gaps: 0 });
  });

  it('buffers publishes made while offline and sends them once connected, in order', async () => {
    const gw = await start();
    const sub = client(gw.url);
    const got = collector();
    await sub.subscribe('chat.offline', got).ready;
    const pub = client(gw.url); // not connected yet: these wait in the buffer
    const acks = await Promise.all([1, 2, 3].map((i) => pub.publish('chat.offline', { i })));
    expect(acks.map((a) => a.seq)).toEqual([1, 2, 3]);
    await got.until(3);
    expect(got.seqs).toEqual([1, 2, 3]);
  });

  it('rejects offline publishes when told to, and everything pending on close()', async () => {
    const gw = await start();
    const rejecting = client(gw.url, { offline: 'reject' });
    await expect(rejecting.publish('chat.x', 1)).rejects.toBeInstanceOf(OfflineError);
    await rejecting.connected();
    expect((await rejecting.publish('chat.x', 1)).seq).toBe(1);

    const buffering = client(gw.url);
    const pending = [buffering.publish('chat.x', 2), buffering.publish('chat.x', 3)];
    const sub = buffering.subscribe('chat.x');
    const iterator = sub[Symbol.asyncIterator]();
    buffering.close();
    for (const p of pending) await expect(p).rejects.toBeInstanceOf(ClientClosedError);
    await expect(buffering.publish('chat.x', 4)).rejects.toBeInstanceOf(ClientClosedError);
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
    expect(buffering.state).toBe('closed');
    expect(buffering.buffered).toEqual({ messages: 0, bytes: 0 });
  });

  it('rejects an in-flight publish whose connection dropped as of unknown outcome, never resending it', async () => {
    const gw = await start();
    const ws = recordingWebSocket();
    const pub = client(gw.url, { WebSocket: ws.Impl });
    await pub.connected();
    const inFlight = pub.publish('chat.lost', 1); // sent at once; its ack cannot arrive before the next line
    ws.sockets.at(-1)!.terminate();
    const error = await inFlight.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionLostError);
    expect((error as ConnectionLostError).closeCode).toBe(1006);
    await pub.connected();
    expect(pub.buffered).toEqual({ messages: 0, bytes: 0 });
  });
});
