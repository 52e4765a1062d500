/**
 * CPU nanoseconds per shed message by policy against CPU nanoseconds per delivery, in one
 * connection's outbound path (see loadtest/bench/shed-cost.ts, which the bench's high-rate part runs
 * too). Bounded by its arguments.
 *
 *   npx tsx loadtest/experiments/shed-cost.ts [messages=200000] [rounds=5] [workloads=all, comma-separated]
 *
 * `queued` (not in the default list) is the cost of queuing into room, before a stopped subscriber's first shed.
 */
import { EXTRA_SHED_WORKLOADS, measureShedCost, SHED_WORKLOADS, type ShedWorkload } from '../bench/shed-cost.js';
import { machine } from './transport-probe.js';

const MESSAGES = Math.min(Number(process.argv[2] ?? 200_000), 2_000_000);
const ROUNDS = Math.min(Number(process.argv[3] ?? 5), 20);
const known: readonly ShedWorkload[] = [...SHED_WORKLOADS, ...EXTRA_SHED_WORKLOADS];
const workloads = process.argv[4] === undefined ? SHED_WORKLOADS : (process.argv[4].split(',') as ShedWorkload[]).filter((w) => known.includes(w));

console.log(`shed cost: ${MESSAGES} messages of 1 KiB per round, ${ROUNDS} rounds, best round; ${machine()}`);
const best = measureShedCost(MESSAGES, ROUNDS, workloads);
console.log('| workload | CPU ns per message | × deliver |');
console.log('|---|---|---|');
for (const w of workloads) console.log(`| ${w} | ${best[w]!.toFixed(0)} | ${best.deliver === undefined ? '–' : (best[w]! / best.deliver).toFixed(2)} |`);
process.exit(0);
