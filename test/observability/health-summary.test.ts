import { describe, expect, it } from 'vitest';
import { BACKPRESSURE_WARN_PER_SECOND, HealthAssessor } from '../../src/observability/health-summary.js';
import type { QueueView } from '../../src/observability/node-counters.js';
import { Stats } from '../../src/observability/stats.js';

describe('HealthAssessor', () => {
  it('warns about queues above 80% and frequent backpressure, against its own baseline', () => {
    let now = 0;
    const stats = new Stats();
    const queues: QueueView[] = [
      { id: 'a', utilisation: 0.81, queuedBytes: 810 },
      { id: 'b', utilisation: 0.5, queuedBytes: 500 },
    ];
    const assessor = new HealthAssessor({ stats, connectionCount: () => queues.length, channelCount: () => 0, publications: () => 0, queues: () => queues }, () => now);
    stats.backpressureEvents += BACKPRESSURE_WARN_PER_SECOND * 2 + 2;
    now += 2_000;
    const first = assessor.assess();
    expect(first).toMatchObject({ connections: 2, queuedBytes: 1310, queuesAbove80: 1, worst: ['a'], elapsedMs: 2_000 });
    expect(first.delta.backpressureEvents).toBe(BACKPRESSURE_WARN_PER_SECOND * 2 + 2);
    expect(first.warnings).toHaveLength(2);
    expect(first.warnings[1]).toMatch(/frequent backpressure/);

    queues[0] = { id: 'a', utilisation: 0.8, queuedBytes: 800 };
    stats.backpressureEvents += BACKPRESSURE_WARN_PER_SECOND;
    now += 1_000;
    const second = assessor.assess();
    expect(second.delta.backpressureEvents).toBe(BACKPRESSURE_WARN_PER_SECOND);
    expect(second.warnings).toEqual([]);
  });
});
