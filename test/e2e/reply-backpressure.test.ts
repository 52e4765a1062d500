import { afterEach, describe, expect, it } from 'vitest';
import { TestClient, type Frame } from '../helpers/client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { until } from '../../devkit/until.js';

/**
 * A client that sends requests faster than it reads their replies. On `ws` the server stops
 * reading its requests until the replies drain (TCP pushes back on the client); `uws` cannot stop
 * reading, so there the client is cut off as a slow consumer once its replies fill the control lane.
 */
describe('replies that back up', () => {
  const gateways: TestGateway[] = [];
  const clients: TestClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await Promise.all(gateways.splice(0).map((g) => g.stop()));
  });

  const metric = async (gw: TestGateway, line: RegExp): Promise<number> => Number(line.exec(await (await fetch(`${gw.httpUrl}/metrics`)).text())?.[1] ?? 0);
  const replyPauses = (gw: TestGateway) => metric(gw, /^sluice_read_pauses_total\{cause="replies"\} (\d+)$/m);
  const slowConsumerCloses = (gw: TestGateway) => metric(gw, /^sluice_disconnects_total\{code="4100"\} (\d+)$/m);

  /** Sends `total` publications with ids long enough that their acks outgrow the socket buffers, while not reading. */
  const burst = async (transport: string, total: number) => {
    const gw = await startGateway({ inbound: { messagesPerSecond: 0, bytesPerSecond: 0 } }, transport);
    gateways.push(gw);
    const c = await TestClient.connect(gw.url);
    clients.push(c);
    c.tcp.pause();
    const pad = 'r'.repeat(56);
    for (let i = 1; i <= total; i++) c.send({ op: 'pub', ch: 'burst', data: i, id: `${pad}${i}` });
    return { gw, c };
  };

  it('ws: stops reading the client rather than closing it, and answers every request once it reads again', async () => {
    const total = 50_000;
    const { gw, c } = await burst('ws', total);
    await until(async () => (await replyPauses(gw)) > 0 || (await slowConsumerCloses(gw)) > 0, 'the server to hold the client back', 30_000);
    expect(await slowConsumerCloses(gw)).toBe(0);
    c.tcp.resume();
    const acks = await c.waitForCount((f: Frame) => f.ev === 'ack', total, 60_000);
    expect(acks.map((f) => f.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(c.closeCode).toBeUndefined();
  }, 90_000);

  it('uws: cannot stop reading, so the client is closed 4100 once its replies overflow the control lane', async () => {
    const { gw, c } = await burst('uws', 50_000);
    await until(async () => (await slowConsumerCloses(gw)) > 0, 'a slow-consumer close', 30_000);
    c.tcp.resume();
    expect(await c.closed(30_000)).toBe(4100);
  }, 90_000);
});
