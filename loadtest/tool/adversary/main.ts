import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startRedis, type TestRedis } from '../../../devkit/redis.js';
import { readProc } from '../../../devkit/proc.js';
import { killOnExit, ROOT, SLUICE_CLI, spawnServer } from '../../../devkit/process.js';
import { sleep, type AttackTarget, type Tally } from './attack-client.js';
import type { BystanderReport } from './bystander.js';
import { ADVERSARY_API_KEY, BYSTANDER_CHANNEL, PATTERNS, adversaryConfig, type Pattern } from './suite.js';

/**
 * `npm run loadtest -- adversary [--budget-mib 64] [--transport ws|uws] [--broker memory|redis]
 * [--patterns a,b] [--short]`: starts a gateway with that memory budget (0: leave the key out, for
 * gateways that predate it), a bystander in a process of its own, then runs each adversary
 * pattern in turn and prints one row per pattern: peak RSS against budget + idle baseline, what
 * the bystander lost and its pong p99, the gateway's event-loop p99, and the gateway's verdicts.
 * Loopback only; every pattern is bounded in count and time.
 */
const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== 'adversary'),
  options: {
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
  },
});

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
  readonly loopP99Ms: number;
  readonly verdicts: Tally;
  readonly closesByServer: Tally;
  /** The gateway still answered /metrics after the pattern. */
  readonly alive: boolean;
  /** History evictions, queues shed and connections closed by the memory budget during the pattern. */
  readonly budget: Tally;
  /** Bytes in each budget pool once the pattern ended. */
  readonly poolsAfter: Tally;
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

function startBystander(url: string): Promise<{ child: ChildProcess; mark(): Promise<BystanderReport> }> {
  const options = { url, channel: BYSTANDER_CHANNEL, rate: 50, pingEveryMs: 100 };
  const child = fork(join(ROOT, 'loadtest/tool/adversary/bystander-process.ts'), [JSON.stringify(options)], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  killOnExit(child);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bystander exited with ${code}`)));
    child.once('message', () =>
      resolve({
        child,
        mark: () =>
          new Promise((done) => {
            child.once('message', (m: { report: BystanderReport }) => done(m.report));
            child.send({ type: 'mark' });
          }),
      }),
    );
  });
}

/** A gateway under attack and its bystander. */
interface Rig {
  readonly pid: number;
  readonly target: AttackTarget;
  readonly bystander: Awaited<ReturnType<typeof startBystander>>;
  stop(): Promise<void>;
}

async function startRig(configFile: string, redisKeys: (() => Promise<number>) | undefined): Promise<Rig> {
  const server = await spawnServer({
    script: SLUICE_CLI,
    args: ['--config', configFile, '--host', '127.0.0.1', '--log.level', 'error', '--log.healthSummaryIntervalMs', '0'],
    portFlag: true,
    nodeArgs: (args['node-options'] ?? '').split(' ').filter((a) => a !== ''),
  });
  const bystander = await startBystander(server.url);
  await sleep(1000);
  await bystander.mark();
  return {
    pid: server.pid,
    target: { url: new URL(server.url), host: '127.0.0.1', port: server.port, apiKey: ADVERSARY_API_KEY, ...(redisKeys ? { redisKeys } : {}) },
    bystander,
    async stop() {
      bystander.child.send({ type: 'stop' });
      await server.stop();
    },
  };
}

/** Runs one pattern and measures the gateway and the bystander meanwhile. */
async function runPattern(p: Pattern, rig: Rig): Promise<Row> {
  const { pid, target } = rig;
  const beforeText = await scrape(target.port);
  const before = metricValues(beforeText, 'sluice_disconnects_total');
  const baseline = readProc(pid)?.rssBytes ?? 0;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, readProc(pid)?.rssBytes ?? 0)), 50);
  const verdicts: Tally = {};
  try {
    await p.run(target, { full: !args.short, seconds: Number(args.seconds) }, verdicts);
  } catch (err) {
    verdicts[`generator error: ${(err as Error).message}`] = 1;
  }
  const report = await rig.bystander.mark();
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
  return { pattern: p.name, what: p.what, baselineMiB: mib(baseline), rssPeakMiB: mib(peak), bystander: report, loopP99Ms: Math.round(loop * 1000), verdicts, closesByServer, budget, poolsAfter: pools, alive };
}

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
  console.log(`machine: ${cpus()[0]?.model} × ${cpus().length}, node ${process.version}; transport ${args.transport}, broker ${args.broker}; ${budget}`);
  const rows: Row[] = [];
  const redisKeys = redisClient === undefined ? undefined : () => redisClient.dbsize();
  // One gateway per pattern, so that each row starts from the same idle baseline (or one for all: quicker).
  let shared = args['shared-gateway'] ? await startRig(configFile, redisKeys) : undefined;
  try {
    for (const p of selected) {
      const rig = shared ?? (await startRig(configFile, redisKeys));
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
    redisClient?.disconnect();
    await redis?.stop();
  }
  console.log(`\n| pattern | peak RSS MiB (idle) | bystander lost | bystander pong p99 ms | gateway event-loop p99 ms | closes by the gateway | memory budget | what the attacker got |`);
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(`| ${r.pattern} | ${r.rssPeakMiB} (${r.baselineMiB}) | ${r.bystander.lost} of ${r.bystander.published} | ${r.bystander.pongP99Ms} | ${r.loopP99Ms} | ${tally(r.closesByServer) || '—'} | ${tally(r.budget) || '—'} | ${tally(r.verdicts) || '—'} |`);
  }
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
