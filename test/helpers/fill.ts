import type { TestGateway } from './gateway.js';

/** Messages the node's policies shed so far for one connection; -1 when it is not connected there. */
export function shedFor(gw: TestGateway, conn: string): number {
  const c = gw.gateway.connectionList().find((x) => x.id === conn);
  return c === undefined ? -1 : c.writer.shed.dropped;
}

/**
 * Fills a paused reader's socket: publishes ballast (each message larger than the outbound queue's
 * byte limit, on a channel of the reader's own) in batches until the node sheds some of it for
 * that connection, at most `max` messages. Afterwards whatever the connection is sent is queued.
 * False when the node never shed (the connection is gone, or `max` was not enough).
 */
export async function fillSocket(gw: TestGateway, conn: string, publishBatch: () => Promise<unknown>, max = 200, batch = 8): Promise<boolean> {
  const before = shedFor(gw, conn);
  if (before < 0) return false;
  for (let sent = 0; sent < max; sent += batch) {
    if (shedFor(gw, conn) !== before) return true;
    await publishBatch();
  }
  return shedFor(gw, conn) !== before;
}
