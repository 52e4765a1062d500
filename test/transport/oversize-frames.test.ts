import { afterEach, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { TRANSPORTS } from '../helpers/transports.js';

const LIMIT = 1024;

/**
 * The documented edge of the 1009 contract (docs/transports.md): uWS refuses frames above its own
 * limit (2 × maxPayloadBytes) by dropping the connection without a close frame, so only there do
 * the transports differ for the client; the server logs and counts what the client received.
 */
describe.each(TRANSPORTS)('oversize frames [%s]', (transport) => {
  let gw: TestGateway;
  const clients: TestClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await gw?.stop();
  });

  async function sendOversize(bytes: number): Promise<number> {
    gw = await startGateway({ limits: { maxPayloadBytes: LIMIT } }, transport);
    const c = await TestClient.connect(gw.url);
    clients.push(c);
    await c.next((f) => f.ev === 'hello');
    c.send({ op: 'pub', ch: 'chat.x', data: 'z'.repeat(bytes) });
    const code = await c.closed();
    // A round trip on another connection, so that the server has handled the close too.
    const other = await TestClient.connect(gw.url);
    clients.push(other);
    await other.request({ op: 'ping' });
    return code;
  }

  it('closes 1009 just above the limit', async () => {
    expect(await sendOversize(LIMIT + 1)).toBe(1009);
    expect(gw.gateway.stats.closesByCode.get(1009)).toBe(1);
  });

  it('far above the limit the client sees 1009 on ws and a dropped connection (1006) on uws, and the server counts what it saw', async () => {
    const received = await sendOversize(4 * LIMIT);
    expect(received).toBe(transport === 'uws' ? 1006 : 1009);
    expect(gw.gateway.connectionCount).toBe(1);
    expect([...gw.gateway.stats.closesByCode.entries()]).toEqual([[received, 1]]);
  });
});
