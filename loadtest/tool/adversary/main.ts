import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, getPriority, loadavg, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startRedis, type TestRedis } from '../../../devkit/redis.js';
import { readProc } from '../../../devkit/proc.js';
import { killOnExit, ROOT } from '../../../devkit/process.js';
import { sleep, type AttackTarget, type Tally } from './attack-client.js';
import type { BystanderReport } from './bystander.js';
import type { RigAnswer, RigCommand } from './rig-process.js';
import { ADVERSARY_API_KEY, BYSTANDER_CHANNEL, PATTERNS, adversaryConfig, type Pattern } from './suite.js';

const USAGE = `npm run loadtest -- adversary [options]

Starts a gateway (one per pattern unless --shared-gateway) with a memory budget, a bystander in a
process of its own (a subscriber on a lossless channel, a publisher at 50/s, an application ping
every --ping-every-ms), then runs each adversary pattern in turn and prints one JSON line per
pattern and, at the end, the table of docs/operations.md. Loopback only; every pattern is bounded
in count and time. The report (JSON) goes to --out. The attacks run in this process, at a lower
priority than the gateway and the bystander (--attack-nice): on a real deployment the attackers
are other machines, not a competitor for the gateway's cores.

Options:
  --budget-mib N        the gateway's limits.memoryBudgetBytes in MiB (default 64; 0: leave the
                        key out, for gateways that predate it)
  --transport ws|uws    (default ws)
  --broker memory|redis (default memory; redis starts a redis-server of its own)
  --patterns a,b        patterns to run (default all): ${PATTERNS.map((p) => p.name).join(', ')}
  --short               a few seconds and a tenth of the counts per pattern (what npm test runs)
  --shared-gateway      one gateway for every pattern (quicker; each row no longer starts idle)
  --seconds N           bound on each pattern (default 30)
  --idle-seconds N      idle window before each pattern, measured like the pattern (default 3;
                        0 with --short)
  --ping-every-ms N     the bystander's application ping interval (default 10: a pattern of a
                        second or two gets the 100+ round trips a p99 needs)
  --attack-nice N       how many nice steps below the gateway and the bystander the attacks run
                        (default 10: nice 10 when started at 0, at most 19; 0: the same
                        priority, as before 2026-11-30)
  --out DIR             where the JSON report goes (default loadtest/results)
  --gateway-args='...'  extra command-line settings for every gateway, after the suite's, e.g.
                        --gateway-args='--limits.subscribesPerTurn 10' (to compare a setting)
  --node-options='...'  extra node flags for the gateway, e.g. --node-options='--cpu-prof
                        --cpu-prof-dir=/tmp/p' (with '=': the value starts with a dash)
  -h, --help            this text

Columns: peak RSS of the gateway during the pattern (its RSS just before, idle, in brackets);
bystander messages lost (must be 0) of those it published; the bystander's pong p99 during the
pattern, its worst one and how many it made, and its p99 during the idle window just before it
(the same gateway, the same machine load: on a loaded machine compare the two); the gateway's
event-loop delay p99; the gateway's CPU seconds during the pattern; closes by the gateway
(sluice_disconnects_total), what the memory budget did, and what the attacker saw. The header
and the last line give the machine's load average.`;

const OPTIONS = {
  help: { type: 'boolean', short: 'h', default: false },
  'idle-seconds': { type: 'string' },
  'ping-every-ms': { type: 'string', default: '10' },
  'attack-nice': { type: 'string', default: '10' },
  'budget-mib': { type: 'string', default: '64' },
  transport: { type: 'string', default: 'ws' },
  broker: { type: 'string', default: 'memory' },
  patterns: { type: 'string', default: PATTERNS.map((p) => p.name).join(',') },
  short: { type: 'boolean', default: false },
  'shared-gateway': { type: 'boolean', default: false },
  seconds: { type: 'string', default: '30' },
  out: { type: 'string', default: 'loadtest/results' },
  /** Extra node flags for the gateway, e.g. '--cpu-prof' to profile a pattern. */
  'node-options': { type: 'string' },
  /** Extra gateway settings on its command line, e.g. '--limits.subscribesPerTurn 10'. */
  'gateway-args': { type: 'string' },
} as const;

function parseOptions(): ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'] {
  try {
    return parseArgs({ args: process.argv.slice(2).filter((a) => a !== 'adversary'), options: OPTIONS }).values;
  } catch (err) {
    console.error(`adversary: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
}
const args = parseOptions();

if (args.help) {
  console.log(USAGE);
  process.exit(0);
}

const idleSeconds = Number(args['idle-seconds'] ?? (args.short ? 0 : 3));
/**
 * The shortest window a row is measured over: a pattern over sooner (the short violations round
 * takes a few tens of ms) would otherwise span less than one of the bystander's publications (50/s)
 * and could not show that it kept publishing. The bystander goes on meanwhile; the attack is over.
 */
const MIN_WINDOW_MS = 250;
const MiB = 1024 * 1024;
const budgetBytes = Number(args['budget-mib']) * MiB;
const mib = (bytes: number): number => Math.round(bytes / MiB);

interface Row {
  readonly pattern: string;
  readonly what: string;
  /** The gateway's RSS once started and idle, beside the bystander. */
  readonly baselineMiB: number;
  readonly rssPeakMiB: number;
  readonly bystander: BystanderReport;
  /** The bystander's pong p99 in the idle window just before the pattern. */
  readonly idlePongP99Ms: number;
  readonly loopP99Ms: number;
  /** The gateway's CPU time (user + system) during the pattern. */
  readonly cpuSeconds: number;
  readonly verdicts: Tally;
  readonly closesByServer: Tally;
  /** The gateway still answered /metrics after the pattern. */
  readonly alive: boolean;
  /** History evictions, queues shed and connections closed by the memory budget during the pattern. */
  readonly budget: Tally;
  /** Bytes in each budget pool once the pattern ended. */
  readonly poolsAfter: Tally;
  /** Nice values read from /proc during the pattern: the attacks (this process), the gateway, the bystander. */
  readonly nice: { readonly attack: number; readonly gateway: number; readonly bystander: number };
}

function metricValues(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(name.length, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

async function scrape(port: number): Promise<string> {
  try {
    return await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  } catch {
    return '';
  }
}

/** The process that starts the gateways and runs the bystander (rig-process.ts), at normal priority. */
class RigProcess {
  private readonly answers: RigAnswer[] = [];
  private waiting: ((a: RigAnswer) => void) | undefined;

  private constructor(readonly child: ChildProcess) {
    child.on('message', (a: RigAnswer) => {
      const w = this.waiting;
      this.waiting = undefined;
      if (w) w(a);
      else this.answers.push(a);
    });
  }

  static async fork(): Promise<RigProcess> {
    const child = fork(join(ROOT, 'loadtest/tool/adversary/rig-process.ts'), [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
    killOnExit(child);
    const rig = new RigProcess(child);
    await rig.next();
    return rig;
  }

  /** Sends a command and waits for its answer. */
  async ask(c: RigCommand): Promise<RigAnswer> {
    this.child.send(c);
    const a = await this.next();
    if (a.type === 'failed') throw new Error(`rig process: ${a.message}`);
    return a;
  }

  async mark(): Promise<BystanderReport> {
    const a = await this.ask({ type: 'mark' });
    if (a.type !== 'report') throw new Error(`rig process answered ${a.type} to mark`);
    return a.report;
  }

  private next(): Promise<RigAnswer> {
    const a = this.answers.shift();
    if (a !== undefined) return Promise.resolve(a);
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.child.once('exit', (code) => reject(new Error(`rig process exited with ${code}`)));
    });
  }
}

/** A gateway under attack and its bystander. */
interface Rig {
  readonly pid: number;
  readonly target: AttackTarget;
  readonly bystander: RigProcess;
  stop(): Promise<void>;
}

async function startRig(rigProcess: RigProcess, configFile: string, redisKeys: (() => Promise<number>) | undefined): Promise<Rig> {
  const nodeArgs = (args['node-options'] ?? '').split(' ').filter((a) => a !== '');
  const gatewayArgs = (args['gateway-args'] ?? '').split(' ').filter((a) => a !== '');
  const started = await rigProcess.ask({ type: 'start', configFile, nodeArgs, gatewayArgs, bystander: { channel: BYSTANDER_CHANNEL, rate: 50, pingEveryMs: Number(args['ping-every-ms']) } });
  if (started.type !== 'started') throw new Error(`rig process answered ${started.type} to start`);
  return {
    pid: started.pid,
    target: { url: new URL(started.url), host: '127.0.0.1', port: started.port, apiKey: ADVERSARY_API_KEY, ...(redisKeys ? { redisKeys } : {}) },
    bystander: rigProcess,
    async stop() {
      // A profile (--node-options='--cpu-prof') is written only if the gateway exits by itself.
      await rigProcess.ask({ type: 'stop', graceMs: args['node-options'] === undefined ? undefined : 30_000 });
    },
  };
}

/** Runs one pattern and measures the gateway and the bystander meanwhile. */
async function runPattern(p: Pattern, rig: Rig): Promise<Row> {
  const { pid, target } = rig;
  await sleep(idleSeconds * 1000);
  const idle = await rig.bystander.mark();
  const cpuBefore = readProc(pid)?.cpuSeconds ?? 0;
  const beforeText = await scrape(target.port);
  const before = metricValues(beforeText, 'sluice_disconnects_total');
  const baseline = readProc(pid)?.rssBytes ?? 0;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, readProc(pid)?.rssBytes ?? 0)), 50);
  const nice = { attack: readProc(process.pid)?.nice ?? NaN, gateway: readProc(pid)?.nice ?? NaN, bystander: readProc(rig.bystander.child.pid!)?.nice ?? NaN };
  const verdicts: Tally = {};
  const started = Date.now();
  try {
    await p.run(target, { full: !args.short, seconds: Number(args.seconds) }, verdicts);
  } catch (err) {
    verdicts[`generator error: ${(err as Error).message}`] = 1;
  }
  const short = MIN_WINDOW_MS - (Date.now() - started);
  if (short > 0) await sleep(short);
  const report = await rig.bystander.mark();
  const cpuSeconds = (readProc(pid)?.cpuSeconds ?? cpuBefore) - cpuBefore;
  clearInterval(sampler);
  const metrics = await scrape(target.port);
  const closesByServer: Tally = {};
  for (const [label, n] of metricValues(metrics, 'sluice_disconnects_total')) {
    const grew = n - (before.get(label) ?? 0);
    if (grew > 0) closesByServer[label.replace(/\{code="(\d+)"\}/, '$1')] = grew;
  }
  const loop = metricValues(metrics, 'sluice_nodejs_eventloop_lag_p99_seconds').values().next().value ?? 0;
  const alive = (await scrape(target.port)) !== '';
  // What the memory budget did (gateways that predate it have none of these).
  const budget: Tally = {};
  for (const [name, key] of [['sluice_memory_history_evictions_total', 'history evicted'], ['sluice_memory_shed_queues_total', 'queues shed'], ['sluice_memory_closes_total', 'closed 4100']] as const) {
    const n = metricValues(metrics, name).values().next().value;
    const was = metricValues(beforeText, name).values().next().value ?? 0;
    if (n !== undefined && n - was > 0) budget[key] = n - was;
  }
  const pools: Tally = {};
  for (const [label, n] of metricValues(metrics, 'sluice_memory_bytes')) pools[label.replace(/\{pool="(\w+)"\}/, '$1')] = n;
  return { pattern: p.name, what: p.what, baselineMiB: mib(baseline), rssPeakMiB: mib(peak), bystander: report, idlePongP99Ms: idle.pongP99Ms, loopP99Ms: Math.round(loop * 1000), cpuSeconds: Math.round(cpuSeconds * 100) / 100, verdicts, closesByServer, budget, poolsAfter: pools, nice, alive };
}

/**
 * Lowers this process's priority by `steps` (never raises it: that takes privileges), every thread
 * of it: on Linux a nice value belongs to a thread, and the helper threads (garbage collection,
 * libuv's pool) already running would keep theirs. Threads started later inherit it.
 */
function lowerPriority(steps: number): void {
  const nice = Math.min(19, getPriority() + Math.max(0, steps));
  let tids: number[];
  try {
    tids = readdirSync('/proc/self/task').map(Number);
  } catch {
    tids = [0];
  }
  for (const tid of tids) {
    try {
      setPriority(tid, nice);
    } catch {
      // A thread that ended meanwhile.
    }
  }
}

const loadAverage = (): string =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(', ');

const tally = (t: Tally): string =>
  Object.entries(t)
    .map(([k, v]) => `${k} ×${v}`)
    .join(', ');

async function main(): Promise<number> {
  const selected = args.patterns!.split(',').map((name) => {
    const p = PATTERNS.find((q) => q.name === name);
    if (p === undefined) throw new Error(`unknown pattern ${name}; one of ${PATTERNS.map((q) => q.name).join(', ')}`);
    return p;
  });
  let redis: TestRedis | undefined;
  const broker: Record<string, unknown> = {};
  if (args.broker === 'redis') {
    redis = await startRedis();
    Object.assign(broker, { type: 'redis', redis: { url: redis.url } });
  }
  const redisClient = redis?.client();
  const configFile = join(mkdtempSync(join(tmpdir(), 'sluice-adversary-')), 'config.json');
  writeFileSync(configFile, JSON.stringify({ ...adversaryConfig(budgetBytes), transport: args.transport, broker }));
  const budget = args['budget-mib'] === '0' ? 'no budget' : `budget ${args['budget-mib']} MiB`;
  console.log(`machine: ${cpus()[0]?.model} × ${cpus().length}, node ${process.version}, load average ${loadAverage()}; transport ${args.transport}, broker ${args.broker}; ${budget}; attacks at nice ${args['attack-nice']}`);
  const rows: Row[] = [];
  // The gateways and the bystander are started from a process forked before this one lowers its priority.
  const rigProcess = await RigProcess.fork();
  lowerPriority(Number(args['attack-nice']));
  const redisKeys = redisClient === undefined ? undefined : () => redisClient.dbsize();
  // One gateway per pattern, so that each row starts from the same idle baseline (or one for all: quicker).
  let shared = args['shared-gateway'] ? await startRig(rigProcess, configFile, redisKeys) : undefined;
  try {
    for (const p of selected) {
      const rig = shared ?? (await startRig(rigProcess, configFile, redisKeys));
      try {
        const row = await runPattern(p, rig);
        console.log(JSON.stringify(row));
        rows.push(row);
      } finally {
        if (rig !== shared) await rig.stop();
      }
    }
  } finally {
    await shared?.stop();
    shared = undefined;
    rigProcess.child.disconnect();
    redisClient?.disconnect();
    await redis?.stop();
  }
  console.log(`\n| pattern | peak RSS MiB (idle) | bystander lost | bystander pong p99 / max ms of n (idle p99) | gateway event-loop p99 ms | gateway CPU s | closes by the gateway | memory budget | what the attacker got |`);
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(`| ${r.pattern} | ${r.rssPeakMiB} (${r.baselineMiB}) | ${r.bystander.lost} of ${r.bystander.published} | ${r.bystander.pongP99Ms} / ${r.bystander.pongMaxMs} of ${r.bystander.pongs} (${r.idlePongP99Ms}) | ${r.loopP99Ms} | ${r.cpuSeconds} | ${tally(r.closesByServer) || '—'} | ${tally(r.budget) || '—'} | ${tally(r.verdicts) || '—'} |`);
  }
  const nices = new Set(rows.map((r) => `${r.nice.attack} / ${r.nice.gateway} / ${r.nice.bystander}`));
  console.log(`nice values during the patterns (attacks / gateway / bystander): ${[...nices].join('; ')}`);
  console.log(`load average at the end: ${loadAverage()}`);
  mkdirSync(args.out!, { recursive: true });
  const file = join(args.out!, `adversary-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ command: `npm run loadtest -- adversary ${process.argv.slice(3).join(' ')}`, budgetMiB: Number(args['budget-mib']), rows }, null, 2));
  console.log(`report: ${file}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`adversary: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
