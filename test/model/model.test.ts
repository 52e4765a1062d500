import { describe, expect, it } from 'vitest';
import { checkModel, formatCoverage } from './run.js';
import { World, type BrokerKind } from './world.js';

/**
 * The delivery guarantee, model-checked (bounded run; `npm run check:model` runs long): random
 * sequences of sub / unsub / resub / publish / paused readers / reconnects to any node / broker
 * faults against real gateways, every subscriber's stream checked frame by frame. Fixed seeds, so
 * a failure here replays; its message carries the shrunk sequence as a command line.
 */
const RUNS: Record<BrokerKind, { runs: number; seed: number }> = {
  memory: { runs: 40, seed: 11 },
  redis: { runs: 15, seed: 12 },
};

describe('the delivery guarantee, model-checked', () => {
  for (const broker of ['memory', 'redis'] as const) {
    it(`${broker}: every random sequence keeps it`, async () => {
      const world = await World.start(broker);
      try {
        const run = await checkModel(world, { ...RUNS[broker], timeLimitMs: 150_000 });
        console.log(formatCoverage(broker, run.coverage));
        const failure = run.failure === undefined ? [] : [...run.failure.violations, `seed ${run.failure.seed} path ${run.failure.path}`, run.failure.replay];
        expect(failure).toEqual([]);
        expect(run.coverage.sequences).toBeGreaterThanOrEqual(RUNS[broker].runs);
      } finally {
        await world.stop();
      }
    }, 240_000);
  }
});
