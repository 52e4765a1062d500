import { describe, expect, it } from 'vitest';
import { gatewayHarness } from '../helpers/harness.js';
import { RawSubscriber } from '../model/raw-subscriber.js';

/**
 * `outbound.uwsCorkBytes` set above the cork buffer of the uWS build that actually runs (the
 * pinned build's 16 KiB): the adapter's runs then overflow uWS's cork buffer, and uWS takes its
 * slower path for the rest of each run (the frames copied into the socket's own buffer). That costs
 * system calls, never a frame: streams are checked frame by frame by the model's ledger. With a
 * build whose cork buffer is that large (docs/transports.md) the runs fit it.
 */
describe('uWS runs larger than the cork buffer (outbound.uwsCorkBytes)', () => {
  const h = gatewayHarness('uws');

  it('bursts of 1 KiB publications reach every subscriber whole and in order', async () => {
    const gw = await h.start({ inbound: { messagesPerSecond: 0, bytesPerSecond: 0 }, outbound: { uwsCorkBytes: 64 * 1024, uwsTopicFanout: false } });
    const subs = await Promise.all(Array.from({ length: 5 }, (_, i) => RawSubscriber.connect(gw.url, `s${i}`)));
    try {
      await Promise.all(subs.map((s) => s.sub('feed.a')));
      const publisher = await h.connect();
      const pad = 'x'.repeat(1000);
      const total = 400;
      // Sent without waiting: the gateway reads many in one turn, so each subscriber's turn holds runs of up to 64 KiB.
      for (let i = 1; i < total; i++) publisher.send({ op: 'pub', ch: 'feed.a', data: { i, pad } });
      const last = await publisher.request({ op: 'pub', ch: 'feed.a', data: { i: total, pad } });
      expect(last).toMatchObject({ ev: 'ack', seq: total });
      const probe = await h.connect();
      const ack = await probe.subscribe('feed.a');
      for (const s of subs) await s.settle('feed.a', { epoch: ack.epoch as string, seq: ack.seq as number });
      expect(subs.flatMap((s) => s.violations)).toEqual([]);
      expect(gw.gateway.stats.messagesOut).toBeGreaterThanOrEqual(total * subs.length);
    } finally {
      for (const s of subs) s.terminate();
    }
  });
});
