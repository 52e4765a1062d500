import { describe, expect, it } from 'vitest';
import { SnapshotBuilder, type DashboardChannel, type DashboardConnection } from '../../src/dashboard/snapshot.js';
import { HealthAssessor } from '../../src/observability/health-summary.js';
import { Stats } from '../../src/observability/stats.js';

function connection(id: string, queuedBytes: number, utilisation: number, rateLimited = 0, oldestAt?: number, receiveWindow?: { bytes: number; sent: number; reported: number }): DashboardConnection {
  return {
    id,
    socket: { remoteAddress: '127.0.0.1' },
    rateLimited,
    messagesIn: 10,
    subscriptionCount: 1,
    writer: { queuedBytes, queuedMessages: queuedBytes > 0 ? 3 : 0, utilisation, oldestQueuedAt: () => oldestAt, shed: { dropped: 1, conflated: 2, expired: 0 }, receiveWindow },
  };
}

function setup() {
  let now = 1_000;
  const clock = () => now;
  const stats = new Stats();
  const connections: DashboardConnection[] = [];
  const channels: Array<DashboardChannel & { published: number }> = [];
  let publications = 0;
  const source = {
    stats,
    transport: 'ws',
    connections: () => connections,
    channels: () => channels,
    channelCount: () => channels.length,
    publications: () => publications,
    connectionCount: () => connections.length,
    queues: () => connections.map((c) => ({ id: c.id, utilisation: c.writer.utilisation, queuedBytes: c.writer.queuedBytes })),
    // Only `quiet` has presence (docs/presence.md).
    occupancy: (ch: string) => (ch === 'quiet' ? 48 : undefined),
  };
  const health = new HealthAssessor(source, clock);
  const builder = new SnapshotBuilder(source, health, clock, () => 42);
  return { builder, stats, connections, channels, now: () => now, advance: (ms: number) => (now += ms), publish: (n: number) => (publications += n) };
}

describe('SnapshotBuilder', () => {
  it('reports counter growth per second over the interval since the last build', () => {
    const t = setup();
    t.builder.reset();
    t.stats.messagesOut += 500;
    t.stats.shed.conflated += 30;
    t.stats.countClose(4100);
    t.publish(20);
    t.advance(2_000);
    const s = t.builder.build();
    expect(s.intervalMs).toBe(2_000);
    expect(s.rates.messagesOut).toBe(250);
    expect(s.rates.conflated).toBe(15);
    expect(s.rates.slowConsumerDisconnects).toBe(0.5);
    expect(s.rates.publications).toBe(10);
    expect(s.totals.messagesOut).toBe(500);
    t.advance(1_000);
    expect(t.builder.build().rates.messagesOut).toBe(0);
  });

  it('bins queue utilisation and ranks slow consumers, publishers and channels', () => {
    const t = setup();
    t.connections.push(connection('idle', 0, 0), connection('half', 500, 0.5, 3), connection('full', 900, 0.95, 0, 700, { bytes: 16_384, sent: 20_000, reported: 2_000 }), connection('tiny', 10, 0.01, 9));
    t.channels.push({ name: 'quiet', published: 5, subscribers: { size: 50 }, queuePolicy: { policy: 'disconnect' } });
    t.channels.push({ name: 'busy', published: 10, subscribers: { size: 2 }, queuePolicy: { policy: 'conflate' } });
    t.channels.push({ name: 'dead', published: 0, subscribers: { size: 0 }, queuePolicy: { policy: 'drop-oldest' } });
    t.builder.reset();
    t.channels[1]!.published += 100;
    t.advance(1_000);
    const s = t.builder.build();
    expect(s.queues.histogram).toEqual([1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
    expect(s.queues.queuedBytes).toBe(1410);
    expect(s.slowConsumers.map((r) => r.id)).toEqual(['full', 'half', 'tiny']);
    expect(s.slowConsumers[0]).toMatchObject({ oldestAgeMs: 1_300, shed: { dropped: 1, conflated: 2, expired: 0 }, window: { bytes: 16_384, unreported: 18_000 } });
    expect(s.slowConsumers[1]!.window).toBeNull();
    expect(s.publishers.map((r) => [r.id, r.rateLimited])).toEqual([['tiny', 9], ['half', 3]]);
    expect(s.hotChannels.map((r) => [r.name, r.perSecond, r.members])).toEqual([['busy', 100, null], ['quiet', 0, 48]]);
    expect(s.warnings).toHaveLength(1);
    expect(s.warnings[0]).toContain('full');

    // The next interval counts only what was published in it; a channel new since the last build counts from 0.
    t.channels[1]!.published += 25;
    t.channels.push({ name: 'new', published: 7, subscribers: { size: 1 }, queuePolicy: { policy: 'conflate' } });
    t.advance(1_000);
    expect(t.builder.build().hotChannels.map((r) => [r.name, r.perSecond])).toEqual([['busy', 25], ['new', 7], ['quiet', 0]]);
    t.advance(1_000);
    expect(t.builder.build().hotChannels.map((r) => [r.name, r.perSecond])).toEqual([['quiet', 0], ['busy', 0], ['new', 0]]);
  });
});
