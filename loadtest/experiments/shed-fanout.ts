/**
 * What a shed costs in the gateway's conditions, not one connection's in a hot loop: each
 * publication goes to 1,000 subscriptions in turn (as the hub fans out), 100 of them stopped (their
 * socket takes nothing, their queue is full), with `thrash` bytes copied between publications as the
 * kernel's copies of the writes do (see measureShedFanout in loadtest/bench/shed-cost.ts, which the
 * bench's high-rate part runs too). Bounded by its arguments.
 *
 *   npx tsx loadtest/experiments/shed-fanout.ts [publications=1500] [rounds=5] [policies=drop-oldest,drop-newest,conflate] [thrash=1000000]
 */
import { FANOUT_POLICIES, measureShedFanout, type FanoutPolicy } from '../bench/shed-cost.js';
import { machine } from './transport-probe.js';

const PUBS = Math.min(Number(process.argv[2] ?? 1500), 20_000);
const ROUNDS = Math.min(Number(process.argv[3] ?? 5), 20);
const policies = process.argv[4] === undefined ? FANOUT_POLICIES : (process.argv[4].split(',') as FanoutPolicy[]).filter((p) => FANOUT_POLICIES.includes(p));
const THRASH = Math.min(Number(process.argv[5] ?? 1_000_000), 64 * 1024 * 1024);

console.log(`shed fan-out: ${PUBS} publications of 1 KiB to 1,000 subscriptions (100 stopped), ${THRASH} B copied between publications, ${ROUNDS} rounds, medians; ${machine()}`);
const costs = measureShedFanout(PUBS, ROUNDS, policies, THRASH);
for (const policy of policies) {
  const c = costs[policy]!;
  console.log(`${policy}: to the 900 reading ${(c.reading / 1000).toFixed(1)} µs per publication (${(c.reading / 900).toFixed(0)} ns each), with the stopped ${(c.all / 1000).toFixed(1)} µs: ${c.shed.toFixed(0)} ns per shed (rounds: ${c.rounds.map((x) => x.toFixed(0)).join(', ')})`);
}
process.exit(0);
