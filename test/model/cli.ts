import { parseArgs } from 'node:util';
import type { Command } from './commands.js';
import { checkModel, emptyCoverage, formatCoverage, runSequence } from './run.js';
import { World, type BrokerKind } from './world.js';

/**
 * The model check, long mode: `npm run check:model -- --runs N --seed S [--broker memory|redis|both] [--transport ws|uws] [--compression]`,
 * or `--replay '<json>'` to run one printed sequence again; `--time-limit-ms T` stops after T
 * (shrinking included). Exits 1 on a violation.
 */
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '200' },
    seed: { type: 'string', default: String(Date.now() % 2 ** 31) },
    broker: { type: 'string', default: 'both' },
    transport: { type: 'string', default: 'ws' },
    /** The gateways offer permessage-deflate. */
    compression: { type: 'boolean', default: false },
    'max-commands': { type: 'string', default: '16' },
    /** Stop after this long (the figures then count the sequences that ran). */
    'time-limit-ms': { type: 'string' },
    replay: { type: 'string' },
  },
});
const brokers: BrokerKind[] = values.broker === 'both' ? ['memory', 'redis'] : [values.broker as BrokerKind];
let failed = false;
for (const broker of brokers) {
  const world = await World.start(broker, values.transport as 'ws' | 'uws', { compression: values.compression });
  try {
    if (values.replay !== undefined) {
      const coverage = emptyCoverage();
      const violations = await runSequence(world, JSON.parse(values.replay) as Command[], coverage);
      console.log(formatCoverage(broker, coverage));
      console.log(violations.length === 0 ? 'no violation' : `violations:\n  ${violations.join('\n  ')}`);
      failed ||= violations.length > 0;
      continue;
    }
    const started = Date.now();
    const coverage = emptyCoverage();
    const timeLimitMs = values['time-limit-ms'] === undefined ? undefined : Number(values['time-limit-ms']);
    const progress = setInterval(() => console.log(`${((Date.now() - started) / 1000).toFixed(0)} s: ${formatCoverage(broker, coverage).split('\n')[0]}`), 60_000);
    const run = await checkModel(world, { runs: Number(values.runs), seed: Number(values.seed), maxCommands: Number(values['max-commands']), timeLimitMs, coverage });
    clearInterval(progress);
    console.log(formatCoverage(broker, run.coverage));
    console.log(`  seed ${values.seed}, ${((Date.now() - started) / 1000).toFixed(1)} s, violations ${run.failure === undefined ? 0 : run.failure.violations.length}`);
    if (run.failure !== undefined) {
      failed = true;
      console.log(`VIOLATION (seed ${run.failure.seed}, path ${run.failure.path}):\n  ${run.failure.violations.join('\n  ')}\nreplay: ${run.failure.replay}`);
    }
  } finally {
    await world.stop();
  }
}
process.exit(failed ? 1 : 0);
