import { describe, expect, it } from 'vitest';
import { TRANSPORTS } from '../helpers/transports.js';
import { harness, recordingWebSocket } from './support.js';

const N = 400;

describe.each(TRANSPORTS)('client over batch frames [%s]', (transport) => {
  const h = harness(transport);

  it.each([true, false])('gets every message of a burst, in order (batch %s); batching, in fewer frames than messages', async (batch) => {
    const gw = await h.gateway({ inbound: { messagesPerSecond: 0, bytesPerSecond: 0 } });
    const ws = recordingWebSocket();
    const subscriber = h.client(gw.url, { WebSocket: ws.Impl, batch });
    const publisher = h.client(gw.url, { publishBuffer: { maxInFlight: N, maxMessages: N } });
    const received: number[] = [];
    let done!: () => void;
    const all = new Promise<void>((resolve) => (done = resolve));
    const sub = subscriber.subscribe<{ i: number }>('burst', {
      onMessage: (m) => {
        received.push(m.data.i);
        if (received.length === N) done();
      },
    });
    await sub.ready;
    expect(ws.sockets[0]!.protocol).toBe(batch ? 'sluice.batch' : '');
    const before = ws.frames.count;
    await Promise.all(Array.from({ length: N }, (_, i) => publisher.publish('burst', { i })));
    await all;
    expect(received).toEqual(Array.from({ length: N }, (_, i) => i));
    const frames = ws.frames.count - before;
    if (batch) expect(frames).toBeLessThan(N);
    else expect(frames).toBe(N);
  });
});
