/**
 * `npm run bench`: the same fan-out workloads against Sluice and its baselines (raw ws, raw ws
 * framed once, raw uWS, Socket.IO), one server after the other in one invocation, each server a
 * separate process pinned to CPU 0 with the generator on CPU 1. The primary figure is deliveries
 * per second of server CPU time (read from /proc), so a generator-bound run still compares servers
 * honestly. Bounded: the default run stops by itself (about 19 minutes on a quiet machine, the high-rate part
 * about 12 of them; HARD_LIMIT_MS at most), --quick in two or three.
 *
 *   npm run bench [-- --quick] [--only sluice-ws,ws-framed] [--workloads 1k-100,5k-1k]
 *                 [--skip-slow] [--skip-idle] [--skip-high-rate]
 *   npm run bench -- --high-rate    the high-rate workloads alone (1 KiB at 1.8M/s offered, none and
 *                                   10% stopped per policy, both transports without and with batch
 *                                   frames, and raw; 100 B at 100k/s)
 *                 [--seed N]        the 1.8M/s rows' shuffled run order (printed in the report)
 *                 [--rows sluice-ws-disconnect-batch:0,sluice-uws-batch:10]
 *                                   only these 1.8M/s rows (`<target id>:<stopped %>`), without the
 *                                   100k/s rounds and the shedding cost: one row at a time
 *                 [--rounds N]      runs each 1.8M/s row N times (at most 9), all shuffled together;
 *                                   a row stands for its median run by p99, every run's p99 beside it
 *                 [--warmup-s N]    each row's warm-up before its measured run (default 3 s, at most
 *                                   10; 0: none, the stopped subscribers stop at the first
 *                                   publication and the rates' window waits for shedding, as before)
 *   npm run bench -- --low-rate     the 100k/s rounds alone (raw and Sluice, both transports, five
 *                                   rounds alternated; about four minutes), [--warmup-s N] as above
 *   any of these  [--tcp-wmem-max B] runs the whole bench in a private network namespace whose TCP
 *                                   send buffers grow to at most B bytes (docs/operations.md, "Kernel
 *                                   socket buffers", recommends 262144 for a gateway; the host's
 *                                   default is 4 MiB); the host is not touched. Needs unshare and ip,
 *                                   and root or unprivileged user namespaces.
 *                 [--window-bytes B] the 1.8M/s rows' Sluice subscribers (none and 10% stopped alike)
 *                                   ask for a receive window of B bytes (docs/protocol.md, `window`):
 *                                   each reports what it read every B/2, a stopped one stops
 *                                   reporting, so the gateway's policy acts after B bytes instead of
 *                                   after the kernel's buffers; the raw servers and the 100k/s rounds
 *                                   run without. Printed in the result's header.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Plan } from '../tool/plan.js';
import { readProc } from '../../devkit/proc.js';
import { runLoad, type RunResult } from '../tool/runner.js';
import { BASE_KNOBS, SCENARIOS } from '../tool/scenarios.js';
import { pinSelf, ROOT, spawnServer, type ServerProcess } from '../../devkit/process.js';
import { machineInfo, machineMarkdown } from './machine.js';
import { idleTable, slowTable, workloadTable, type Cell, type IdleCell, type SlowCell, type Workload } from './table.js';
import { TARGETS, type Target } from './targets.js';
import { HIGH_ROWS, LOW_RUNS, runHighRate } from './high-rate.js';
import { DEFAULT_WARMUP_MS, type RunPhases } from './high-rate-phases.js';
import { isShedding, readServerCounters } from '../tool/server-metrics.js';
import { measureShedCost, measureShedFanout } from './shed-cost.js';
import { loadavg } from 'node:os';
import { rerunInNetns } from '../../devkit/kernel-net.js';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const lowRateOnly = argv.includes('--low-rate');
const highRateOnly = argv.includes('--high-rate') || lowRateOnly;
const skipIdle = argv.includes('--skip-idle') || quick || highRateOnly;
const onlyArg = argv.indexOf('--only');
const only = onlyArg >= 0 ? new Set((argv[onlyArg + 1] ?? '').split(',')) : undefined;
const targets = only ? TARGETS.filter((t) => only.has(t.id)) : TARGETS;
const workloadsArg = argv.indexOf('--workloads');
const pickWorkloads = workloadsArg >= 0 ? new Set((argv[workloadsArg + 1] ?? '').split(',')) : undefined;
const skipSlow = argv.includes('--skip-slow') || highRateOnly;
const skipHighRate = argv.includes('--skip-high-rate') || quick;
const seedArg = argv.indexOf('--seed');
const rowsArg = argv.indexOf('--rows');
const rows = rowsArg >= 0 ? new Set((argv[rowsArg + 1] ?? '').split(',')) : undefined;
const roundsArg = argv.indexOf('--rounds');
const rounds = roundsArg >= 0 ? Math.min(Math.max(1, Number(argv[roundsArg + 1]) || 1), 9) : 1;
const warmupArg = argv.indexOf('--warmup-s');
const warmupS = warmupArg >= 0 ? Math.min(Math.max(0, Number(argv[warmupArg + 1]) || 0), 10) : undefined;
const seed = seedArg >= 0 ? Number(argv[seedArg + 1]) >>> 0 : Date.now() % 2 ** 31;
const windowArg = argv.indexOf('--window-bytes');
const windowBytes = windowArg >= 0 ? Math.max(0, Math.floor(Number(argv[windowArg + 1]) || 0)) : 0;
const wmemArg = argv.indexOf('--tcp-wmem-max');
// Before anything else: the copy inside the namespace measures, this one waits for it and exits with its status.
if (wmemArg >= 0) rerunInNetns(Number(argv[wmemArg + 1]));

const ALL_WORKLOADS: Workload[] = quick
  ? [{ id: '1k-100', subscribers: 1000, size: 100, satRate: 1000, fixedRate: 100 }]
  : [
      { id: '1k-100', subscribers: 1000, size: 100, satRate: 1000, fixedRate: 100 },
      { id: '1k-1k', subscribers: 1000, size: 1024, satRate: 1000, fixedRate: 100 },
      { id: '5k-100', subscribers: 5000, size: 100, satRate: 200, fixedRate: 20 },
      { id: '5k-1k', subscribers: 5000, size: 1024, satRate: 200, fixedRate: 20 },
    ];
const WORKLOADS = highRateOnly ? [] : pickWorkloads ? ALL_WORKLOADS.filter((w) => pickWorkloads.has(w.id)) : ALL_WORKLOADS;
const SAT_MS = 2000;
const FIXED_MS = 1500;
const SLOW = { subscribers: 1000, size: 1024, rate: 100, fraction: 0.1, durationMs: quick ? 3000 : 4000 };
const IDLE_CONNECTIONS = 10_000;
/** The in-process shedding microbenchmark of the high-rate part: about 3 s of CPU on a quiet machine. */
const SHED_COST = { messages: 200_000, rounds: 5, fanOutPublications: 1500 };
/** The warm-ups of one round of the 1.8M/s rows and of the 100k/s runs, over all of them. */
const WARMUPS_MS = (HIGH_ROWS + LOW_RUNS) * (warmupS === undefined ? DEFAULT_WARMUP_MS : warmupS * 1000);
/** Whole-run guard: whatever happens, the benchmark stops. */
const HARD_LIMIT_MS = (quick ? 6 : highRateOnly ? 16 : 23) * 60_000 + (rounds - 1) * 8 * 60_000 + rounds * WARMUPS_MS;

const log = (line: string): void => void process.stderr.write(`${line}\n`);
/** Finished tables, printed even when the time limit cuts the run short. */
const sections: string[] = [];
/** The server process running now, killed if the time limit strikes. */
let current: ServerProcess | undefined;

function fanoutPlan(subscribers: number, size: number, rate: number, slowFraction = 0): Plan {
  return SCENARIOS.fanout!.build({ ...BASE_KNOBS, subscribers, size, rate, slowFraction, sampleEvery: Math.max(1, Math.ceil(rate / 100)) }, 0);
}

/** Runs `fn` against a fresh server process, so no phase inherits another's backlog. */
async function withServer<T>(target: Target, fn: (server: ServerProcess) => Promise<T>): Promise<T | { unavailable: string }> {
  let server: ServerProcess;
  try {
    server = await spawnServer({ script: target.script, args: target.args, portFlag: target.portFlag, cpu: 0 }, 20_000);
  } catch (err) {
    const reason = (err as Error).message.replace(/\s+/g, ' ').slice(0, 200);
    log(`  ${target.label}: unavailable (${reason})`);
    return { unavailable: reason };
  }
  current = server;
  try {
    return await fn(server);
  } finally {
    current = undefined;
    await server.stop();
  }
}

/** The header's line for `--window-bytes`. */
const windowLine = `Receive window: ${windowBytes > 0 ? `the 1.8M/s rows' Sluice subscribers asked for ${windowBytes} B (--window-bytes), reporting every ${windowBytes / 2} B read; raw servers and the 100k/s rounds without` : 'none (the subscribers never ask for one)'}`;

async function measure(target: Target, server: ServerProcess, plan: Plan, durationMs: number, window: RunPhases = {}, receiveWindow = 0): Promise<RunResult> {
  const sluiceCounters = target.dialect === 'sluice' ? () => readServerCounters(server.httpUrl) : undefined;
  const stopped = window.onceShedding;
  const r = await runLoad({
    url: server.url, dialect: target.dialect, batch: target.batch === true, plan, durationMs,
    ...(receiveWindow > 0 && target.dialect === 'sluice' ? { windowBytes: receiveWindow } : {}), workers: 2, serverPid: server.pid, drainMs: 2000, connectPhaseMs: 90_000,
    ...(window.warmupMs === undefined ? {} : { warmupMs: window.warmupMs }),
    ...(window.steadyAfterMs === undefined ? {} : { steadyAfterMs: window.steadyAfterMs }),
    ...(sluiceCounters === undefined ? {} : { serverCounters: sluiceCounters }),
    ...(sluiceCounters === undefined || stopped === undefined || stopped === 0
      ? {}
      : {
          // A poll that goes unanswered for a second counts as "not yet": the window's latest start must hold.
          steadyWhen: async () => isShedding(await readServerCounters(server.httpUrl, 1000), stopped),
          ...(window.maxSteadyAfterMs === undefined ? {} : { maxSteadyAfterMs: window.maxSteadyAfterMs }),
        }),
  });
  const lossy = r.connections.failed > 0 ? ` (${r.connections.failed} connections failed)` : '';
  const s = r.steady;
  const shed = r.serverCounters === undefined ? '' : `, shed ${r.serverCounters.steadyPerSec === undefined ? 'unread' : Math.round(r.serverCounters.steadyPerSec.shed)}/s`;
  const whilePublishing = s ? ` (while publishing ${s.deliveriesPerSec}/s, server ${Math.round((s.serverCpu ?? 0) * 100)}% CPU${shed})` : '';
  log(`  ${target.label.padEnd(32)} delivered ${r.deliveriesPerSec}/s${whilePublishing}, server cpu ${r.server?.cpuSeconds}s, p99 ${r.latency.p99} ms, load ${r.loadAverage.start.toFixed(1)}${lossy}`);
  const perSecond = (points: typeof r.timeline): string => `p99 ms ${points.map((p) => (p.p99 === undefined ? '–' : Math.round(p.p99))).join(' ')}; generator stall ms ${points.map((p) => p.generatorStallMs).join(' ')}`;
  const warm = r.timeline.filter((p) => p.warm);
  if (warm.length > 0) log(`    warm-up, second by second: ${perSecond(warm)}; its p99 ${r.warmLatency.p99} ms`);
  log(`    per second: ${perSecond(r.timeline.filter((p) => !p.warm))}`);
  return r;
}

async function main(): Promise<void> {
  const guard = setTimeout(() => {
    log(`bench: hard time limit of ${HARD_LIMIT_MS / 60_000} min reached; stopping (tables finished so far follow)`);
    console.log(sections.join('\n\n'));
    if (current !== undefined) process.kill(current.pid, 'SIGKILL');
    process.exit(3);
  }, HARD_LIMIT_MS);
  guard.unref();
  const machine = machineInfo();
  const pinned = machine.pinned && pinSelf(1);
  log(`bench: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}${pinned ? ', generator pinned to CPU 1' : ''}; ${machine.tcpBuffers}; ${windowLine}`);
  const started = Date.now();
  const json: Record<string, unknown> = { machine, windowBytes, command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}` };

  for (const w of WORKLOADS) {
    log(`workload ${w.subscribers} subscribers × ${w.size} B`);
    const cells: Cell[] = [];
    for (const target of targets) {
      const sat = await withServer(target, (server) => measure(target, server, fanoutPlan(w.subscribers, w.size, w.satRate), SAT_MS));
      if ('unavailable' in sat) {
        cells.push({ target, unavailable: sat.unavailable });
        continue;
      }
      const fixed = await withServer(target, (server) => measure(target, server, fanoutPlan(w.subscribers, w.size, w.fixedRate), FIXED_MS));
      cells.push({ target, sat, ...('unavailable' in fixed ? {} : { fixed }) });
    }
    sections.push(workloadTable(w, cells));
    json[w.id] = cells.map(strip);
  }

  const slowCells: SlowCell[] = [];
  if (!skipSlow) log(`slow consumers: ${SLOW.subscribers} subscribers, ${SLOW.fraction * 100}% stopped`);
  for (const target of skipSlow ? [] : targets) {
    const none = await withServer(target, (server) => measure(target, server, fanoutPlan(SLOW.subscribers, SLOW.size, SLOW.rate), SLOW.durationMs));
    if ('unavailable' in none) {
      slowCells.push({ target, unavailable: none.unavailable });
      continue;
    }
    const slow = await withServer(target, (server) => measure(target, server, fanoutPlan(SLOW.subscribers, SLOW.size, SLOW.rate, SLOW.fraction), SLOW.durationMs));
    slowCells.push({ target, none, ...('unavailable' in slow ? {} : { slow }) });
  }
  if (!skipSlow) sections.push(slowTable(SLOW.subscribers, SLOW.rate, SLOW.size, SLOW.fraction, slowCells));
  json.slow = slowCells.map(strip);

  if (!skipHighRate) {
    const high = await runHighRate({
      log,
      seed,
      ...(rows === undefined ? {} : { rows }),
      rounds,
      ...(warmupS === undefined ? {} : { warmupMs: warmupS * 1000 }),
      lowOnly: lowRateOnly,
      windowBytes,
      shedCost: () => {
        const start = loadavg()[0]!;
        const ns = measureShedCost(SHED_COST.messages, SHED_COST.rounds);
        const fanOut = Object.fromEntries(Object.entries(measureShedFanout(SHED_COST.fanOutPublications, SHED_COST.rounds)).map(([policy, cost]) => [policy, cost.shed]));
        return { ...SHED_COST, ns, fanOut, loadAverage: { start, end: loadavg()[0]! } };
      },
      run: async (target, plan, durationMs, window, receiveWindow) => {
        const r = await withServer(target, (server) => measure(target, server, plan, durationMs, window, receiveWindow));
        return 'unavailable' in r ? undefined : r;
      },
    });
    sections.push(...high.sections);
    Object.assign(json, high.json);
  }

  if (!skipIdle) {
    log(`idle connections: ${IDLE_CONNECTIONS}`);
    const idleCells: IdleCell[] = [];
    for (const target of targets) {
      const out = await withServer(target, async (server) => {
        await new Promise((r) => setTimeout(r, 500));
        const before = readProc(server.pid);
        const plan: Plan = { scenario: 'idle', clients: Array.from({ length: IDLE_CONNECTIONS }, () => ({ subscribe: ['idle.0'] })), serverFlags: [], lossless: false };
        const r = await runLoad({ url: server.url, dialect: target.dialect, plan, durationMs: 1000, workers: 2, serverPid: server.pid, drainMs: 0, connectPhaseMs: 120_000 });
        log(`  ${target.label.padEnd(32)} ${r.connections.connected} connected, rss ${r.server?.rssEndMb} MB`);
        return { connections: r.connections.connected, rssBeforeMb: before ? Math.round((before.rssBytes / 1048576) * 10) / 10 : undefined, rssAfterMb: r.server?.rssEndMb };
      });
      idleCells.push({ target, ...out });
    }
    sections.push(idleTable(idleCells));
    json.idle = idleCells.map(strip);
  }

  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  const report = [`## Results (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${minutes} min)`, '', `Command: \`${json.command as string}\``, '', machineMarkdown(machine), `- ${windowLine}`, '', ...sections.flatMap((s) => [s, ''])].join('\n');
  console.log(report);
  const dir = join(ROOT, 'loadtest', 'results');
  mkdirSync(dir, { recursive: true });
  const stem = join(dir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  writeFileSync(`${stem}.md`, report);
  writeFileSync(`${stem}.json`, JSON.stringify(json, null, 2));
  log(`bench: wrote ${stem}.md and .json`);
}

/** Drops the per-second timelines from the JSON to keep it readable. */
function strip<T extends { target: Target }>(cell: T): Record<string, unknown> {
  const out: Record<string, unknown> = { target: cell.target.id };
  for (const [key, v] of Object.entries(cell)) if (key !== 'target') out[key] = v && typeof v === 'object' && 'timeline' in v ? { ...(v as object), timeline: undefined } : v;
  return out;
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
