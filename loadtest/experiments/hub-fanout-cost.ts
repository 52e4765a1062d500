/**
 * Server CPU per delivery of the hub's encode-once fan-out, with no sockets: one channel, 1,000
 * subscribers that take every publication at once, the memory broker. Takes checkouts to compare
 * (default: this one) and alternates them round by round in one process, so a refactor of the
 * publish path is judged side by side on the same machine at the same time.
 *
 *   npx tsx loadtest/experiments/hub-fanout-cost.ts [root …] [--rounds 5] [--publications 20000]
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const argv = process.argv.slice(2);
const flag = (name: string, fallback: number): number => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const roots = argv.filter((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'));
if (roots.length === 0) roots.push('.');
const ROUNDS = Math.min(flag('--rounds', 5), 50);
const PUBLICATIONS = Math.min(flag('--publications', 20_000), 1_000_000);
const SUBSCRIBERS = 1000;

type Loaded = { root: string; run: () => number };

async function load(root: string): Promise<Loaded> {
  const at = (p: string) => import(pathToFileURL(resolve(root, p)).href);
  const { Hub } = await at('src/hub/hub.ts');
  const { MemoryBroker } = await at('src/broker/memory-broker.ts');
  const { ChannelRules } = await at('src/config/channel-rules.ts');
  const { loadConfig } = await at('src/config/load.ts');
  const { createLogger } = await at('src/observability/logger.ts');
  // Older checkouts have no memory budget; the Hub ignores the option there.
  const { MemoryBudget } = await at('src/util/memory-budget.ts').catch(() => ({ MemoryBudget: undefined }));
  const log = createLogger('silent');
  const run = (): number => {
    const clock = () => 0;
    const broker = new MemoryBroker(clock, 0);
    const budget = MemoryBudget === undefined ? undefined : new MemoryBudget(0, { now: clock, later: () => {} });
    const hub = new Hub({ rules: new ChannelRules(loadConfig({})), maxChannels: 10, budget, prepare: (p: Buffer) => p, clock, broker, maxJoinBuffer: 100, log });
    broker.start(hub);
    const channel = hub.channel('c');
    let delivered = 0;
    const subscriber = { joined() {}, deliver: () => (delivered++, 0), replay() {} };
    for (let i = 0; i < SUBSCRIBERS; i++) hub.subscribe(channel, { ...subscriber });
    const before = process.cpuUsage();
    for (let i = 0; i < PUBLICATIONS; i++) hub.publish('c', undefined, '{"price":101.25,"size":300}');
    const used = process.cpuUsage(before);
    if (delivered !== PUBLICATIONS * SUBSCRIBERS) throw new Error(`${root}: delivered ${delivered}`);
    return (used.user + used.system) * 1000 / delivered; // ns per delivery
  };
  return { root, run };
}

const loaded = await Promise.all(roots.map(load));
const results = new Map<string, number[]>(roots.map((r) => [r, []]));
for (let i = 0; i < 3; i++) for (const l of loaded) l.run(); // warm-up: JIT and heap settle
for (let round = 0; round < ROUNDS; round++) for (const l of loaded) results.get(l.root)!.push(l.run());
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = median(results.get(roots[0]!)!);
console.log(`${PUBLICATIONS} publications x ${SUBSCRIBERS} subscribers, ${ROUNDS} alternating rounds; CPU ns per delivery (median):`);
for (const [root, xs] of results) console.log(`  ${root}: ${median(xs).toFixed(1)} ns  (x${(median(xs) / base).toFixed(3)} of ${roots[0]})  rounds: ${xs.map((x) => x.toFixed(1)).join(' ')}`);
