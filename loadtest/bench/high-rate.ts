/**
 * The bench's high-rate workloads: what an engineer choosing a transport for a market-data feed
 * asks of it. 1 publisher → 1,000 subscribers, 1 KiB at 1,800 msg/s (1.8M deliveries/s offered) with
 * none and then 10% of the subscribers stopped (each policy), both transports, raw ws and raw uWS
 * beside them; and 100 B at 100 msg/s (100k deliveries/s offered): server CPU per delivery against
 * the raw server of the same transport. Every run is a fresh server process, bounded in time. The
 * section ends with the issue's targets, each judged on the figures above it.
 */
import { steadyCost, type RunResult } from '../tool/runner.js';
import type { Plan } from '../tool/plan.js';
import { BASE_KNOBS, SCENARIOS } from '../tool/scenarios.js';
import type { SlowConsumerPolicy } from '../../src/protocol/policy.js';
import { md } from './table.js';
import { RAW_UWS_PER_TURN, sluice, TARGETS, type Target } from './targets.js';
import { shedCostSection, type ShedCostFigures } from './shed-cost.js';
import { secondsTable } from './high-rate-seconds.js';
import { COLD_WINDOW, DEFAULT_WARMUP_MS, phases, type RunPhases } from './high-rate-phases.js';

export interface HighRateDeps {
  /** Runs `plan` for `durationMs` against a fresh server of `target`, after `phases`' warm-up, the steady rates taken over its window; undefined when it could not start. */
  run(target: Target, plan: Plan, durationMs: number, phases?: RunPhases, windowBytes?: number): Promise<RunResult | undefined>;
  /** CPU ns per shed message by policy and per delivery through the writer alone, measured in this process. */
  shedCost(): ShedCostFigures;
  log(line: string): void;
  /** Seeds the shuffle of the 1.8M/s rows' run order (the same seed, the same order). */
  readonly seed: number;
  /**
   * Only these 1.8M/s rows, named `<target id>:<stopped %>` as `rowName` gives them (e.g.
   * `sluice-uws-disconnect-batch:10`), and neither the 100k/s rounds nor the shedding cost: for
   * studying one row at a time. Undefined: the whole section.
   */
  readonly rows?: ReadonlySet<string>;
  /**
   * Runs of each 1.8M/s row (default 1), all in one shuffled order: a row then stands for its median
   * run by p99 (every run's p99 shown beside it), for judging a p99 that single 12 s runs leave noisy.
   */
  readonly rounds?: number;
  /** Each row's warm-up before its measured run, 1.8M/s and 100k/s alike (default `DEFAULT_WARMUP_MS`; 0: none, and the rates' window of before). */
  readonly warmupMs?: number;
  /**
   * The 1.8M/s rows' Sluice subscribers ask for a receive window of this many bytes (docs/protocol.md,
   * `window`), none and 10% stopped alike, so that the two stay like for like; raw servers and the
   * 100k/s rounds run without. 0 or absent: none.
   */
  readonly windowBytes?: number;
  /** Only the 100k/s rounds: for judging that target alone (about four minutes). */
  readonly lowOnly?: boolean;
}

/** A 1.8M/s row's name for `HighRateDeps.rows`: its target's id and its stopped percentage. */
export const rowName = (job: { target: Target; stopped: number }): string => `${job.target.id}:${Math.round(job.stopped * 100)}`;


const SUBSCRIBERS = 1000;
const HIGH = { size: 1024, rate: 1800, durationMs: 12_000 };
/**
 * Raw and Sluice alternated, five rounds, judged on the CPU and deliveries summed over them: one
 * run's CPU per delivery moves by a tenth or more (one round gave uws 1.20× raw, the next three
 * 1.20, 0.99 and 1.07×: docs/benchmarks.md, "Seventeenth pass"), so one round cannot judge a 1.1×
 * target; nor could three (raw ws alone gave 6.76, 8.64 and 7.29 µs in one run's three rounds:
 * docs/benchmarks.md, "Nineteenth pass"), so five, each run after the 1.8M/s rows' warm-up: about
 * four minutes in all. The publisher has a
 * generator thread of its own (Plan.publishersApart): sharing one with subscribers, it bunched
 * publications more against the faster server, which then wrote fewer `sendto` per delivery for
 * that alone (docs/benchmarks.md, "Sixth pass (uws)").
 */
const LOW = { size: 100, rate: 100, durationMs: 5000, rounds: 5 };
const STOPPED = 0.1;
const POLICIES: SlowConsumerPolicy[] = ['disconnect', 'drop-oldest', 'drop-newest', 'conflate'];
/** Conflation keys the publisher cycles through on the conflate channel. */
const KEYS = 100;
/** The issue's targets. */
const KEEP_UP = 0.97;
const P99_MS = 250;
const P99_SLOW_RATIO = 1.2;
const LOW_RATIO = 1.1;

const raw = (id: string): Target => TARGETS.find((t) => t.id === id)!;
const transportOf = (t: Target): 'ws' | 'uws' => (t.id.includes('uws') ? 'uws' : 'ws');
const batched = (t: Target): boolean => t.batch === true;
/** The same server, transport and framing: rows compared with each other must be like for like. */
const sameKind = (a: Target, b: Target): boolean => a.dialect === b.dialect && transportOf(a) === transportOf(b) && batched(a) === batched(b);

function plan(size: number, rate: number, stopped: number, keys: number): Plan {
  return SCENARIOS.fanout!.build({ ...BASE_KNOBS, subscribers: SUBSCRIBERS, size, rate, slowFraction: stopped, keys, sampleEvery: Math.max(1, Math.ceil(rate / 100)) }, 0);
}

interface Row {
  readonly target: Target;
  readonly stopped: number;
  readonly policy: string;
  readonly r: RunResult | undefined;
  readonly round?: number;
  /** Its place in the run order. */
  readonly run?: number;
  /** With several rounds of a 1.8M/s row: every round's p99 (ms), in run order; this row is the median one. */
  readonly p99s?: ReadonlyArray<number | undefined>;
}

interface Job {
  readonly target: Target;
  readonly stopped: number;
  readonly policy: string;
}

/**
 * The 1.8M/s rows, in the order the tables list them: raw ws and raw uWS, then Sluice per policy on
 * both transports, each without and with batch frames. Raw uWS here publishes each turn's messages
 * after the read, the stronger baseline at this rate (targets.ts, RAW_UWS_PER_TURN); at 100k/s, one
 * publication per read, it publishes from the handler as before.
 */
function highJobs(): Job[] {
  const jobs: Job[] = [];
  for (const stopped of [0, STOPPED]) {
    for (const target of [raw('ws-framed'), RAW_UWS_PER_TURN]) jobs.push({ target, stopped, policy: 'none' });
    for (const policy of stopped === 0 ? (['disconnect'] as const) : POLICIES) {
      for (const batch of [false, true]) for (const transport of ['ws', 'uws'] as const) jobs.push({ target: sluice(transport, policy, batch), stopped, policy });
    }
  }
  return jobs;
}

/**
 * The jobs in a shuffled order (Fisher–Yates over mulberry32(seed)): a server run later meets a
 * warmer, more worn machine, so a fixed order (Sluice after raw) would judge the two differently;
 * shuffled, no server gets the earlier places by design, and the table says where each ran.
 */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  let a = seed >>> 0;
  const random = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The 1.8M/s rows of one round. */
export const HIGH_ROWS = highJobs().length;
/** The 100k/s runs (raw and Sluice on both transports, every round), each with its warm-up. */
export const LOW_RUNS = LOW.rounds * 4;

const reading = (row: Row): number => SUBSCRIBERS - Math.round(SUBSCRIBERS * row.stopped);

/** Deliveries to the subscribers still reading, by the end of the drain, as a fraction of what they were offered. */
function deliveredShare(row: Row): number | undefined {
  const r = row.r;
  if (r === undefined) return undefined;
  // Sent less refused: an ack still on its way when the run ends would otherwise count as not published.
  const published = r.counters.pubSent - r.counters.pubRateLimited - r.counters.pubOtherErrors;
  return published > 0 ? r.counters.deliveries / (published * reading(row)) : undefined;
}

/** Deliveries per second to the reading subscribers while publishing (after warm-up), and what they were offered. */
function steady(row: Row): { offered: number; delivered: number; share: number } | undefined {
  const s = row.r?.steady;
  if (s === undefined || s.publishedPerSec <= 0) return undefined;
  const offered = s.publishedPerSec * reading(row);
  return { offered, delivered: s.deliveriesPerSec, share: s.deliveriesPerSec / offered };
}

/** Deliveries per data frame the subscribers received, over the whole run: 1 without batch frames. */
function eventsPerFrame(r: RunResult | undefined): number | undefined {
  return r === undefined || r.counters.frames === 0 ? undefined : r.counters.deliveries / r.counters.frames;
}

/** Server CPU µs per delivery, over the whole run (warm-up, publishing and drain; the stopped subscribers' deliveries in the warm-up counted). */
function cpuPerDelivery(r: RunResult | undefined): number | undefined {
  const deliveries = r === undefined ? 0 : r.counters.deliveries + r.counters.deliveriesToSlow;
  return r?.server === undefined || deliveries === 0 ? undefined : (r.server.cpuSeconds * 1e6) / deliveries;
}

const nsPerDelivery = (row: Row | undefined): number | undefined => {
  const us = cpuPerDelivery(row?.r);
  return us === undefined ? undefined : us * 1000;
};

/** What the stopped subscribers shed while publishing, per second (server's count), and as a share of the messages the server took in for them. */
function stoppedShed(row: Row): { perSec: number; share: number | undefined } | undefined {
  const c = row.r?.serverCounters?.steadyPerSec;
  if (c === undefined) return undefined;
  const stopped = SUBSCRIBERS - reading(row);
  return { perSec: c.shed, share: stopped > 0 && c.publications > 0 ? c.shed / (stopped * c.publications) : undefined };
}

const thousands = (n: number | undefined): string => (n === undefined ? '–' : `${(n / 1e3).toFixed(1)}k`);

const perCpuSecond = (row: Row | undefined): number | undefined => {
  const us = cpuPerDelivery(row?.r);
  return us === undefined ? undefined : 1e6 / us;
};

const f = (n: number | undefined, digits: number): string => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits));
const pct = (n: number | undefined): string => (n === undefined ? '–' : `${(n * 100).toFixed(1)}%`);
const millions = (n: number | undefined): string => (n === undefined ? '–' : `${(n / 1e6).toFixed(2)}M`);

export async function runHighRate(deps: HighRateDeps): Promise<{ sections: string[]; json: Record<string, unknown> }> {
  const wsRaw = raw('ws-framed');
  const uwsRaw = raw('uws');
  const warmupMs = Math.max(0, deps.warmupMs ?? DEFAULT_WARMUP_MS);
  if (deps.lowOnly === true) {
    const low = await runLow(deps, wsRaw, uwsRaw, warmupMs);
    return { sections: [lowTable(low, warmupMs), verdicts([], low, [])], json: { low: low.map(strip) } };
  }
  const jobs = highJobs().filter((job) => deps.rows === undefined || deps.rows.has(rowName(job)));
  if (jobs.length === 0) throw new Error(`--rows named no row; the rows are ${highJobs().map(rowName).join(', ')}`);
  const rounds = Math.max(1, Math.floor(deps.rounds ?? 1));
  const order = shuffled(jobs.flatMap((job) => Array.from({ length: rounds }, () => job)), deps.seed);
  deps.log(`high rate: 1 → ${SUBSCRIBERS} × ${HIGH.size} B at ${HIGH.rate} msg/s for ${HIGH.durationMs / 1000} s after a warm-up of ${warmupMs / 1000} s, none and ${STOPPED * 100}% stopped, ${jobs.length} rows${rounds > 1 ? ` × ${rounds} rounds` : ''} in a shuffled order (seed ${deps.seed})`);
  const done = new Map<Job, Row[]>(jobs.map((job) => [job, []]));
  const runs: Row[] = [];
  for (const [i, job] of order.entries()) {
    const r = await deps.run(job.target, plan(HIGH.size, HIGH.rate, job.stopped, job.policy === 'conflate' ? KEYS : 0), HIGH.durationMs, phases(warmupMs, Math.round(SUBSCRIBERS * job.stopped)), deps.windowBytes);
    const row = { ...job, r, run: i + 1 };
    done.get(job)!.push(row);
    runs.push(row);
  }
  const rows = jobs.map((job) => medianRun(done.get(job)!));
  const seconds = secondsTable(runs.map((row) => ({ ...row, label: row.target.label })));
  const highJson = { high: rows.map(keepTimeline), ...(rounds > 1 ? { highRuns: runs.map(keepTimeline) } : {}) };
  if (deps.rows !== undefined) return { sections: [highTable(rows, deps.seed, warmupMs, deps.windowBytes ?? 0), seconds, verdicts(rows, [], [])], json: highJson };

  const low = await runLow(deps, wsRaw, uwsRaw, warmupMs);
  deps.log('shedding: CPU ns per shed message by policy against a delivery, in process');
  const shedCost = deps.shedCost();
  const delivery = rows.filter((r) => r.target.dialect === 'sluice' && r.stopped === 0).map((r) => ({ transport: `${transportOf(r.target)}${batched(r.target) ? ', batch frames' : ''}`, ns: nsPerDelivery(r) }));
  const shedding = shedCostSection(shedCost, delivery);
  return { sections: [highTable(rows, deps.seed, warmupMs, deps.windowBytes ?? 0), seconds, lowTable(low, warmupMs), shedding.table, verdicts(rows, low, shedding.verdicts)], json: { ...highJson, low: low.map(strip), shedCost } };
}

/**
 * The 100k/s rounds: raw and Sluice alternated, each run after the same warm-up as a 1.8M/s row (a
 * market-data gateway runs warm: its request path optimised, its heap grown), its CPU per delivery
 * over the whole run as there (warm-up, run and drain).
 */
async function runLow(deps: HighRateDeps, wsRaw: Target, uwsRaw: Target, warmupMs: number): Promise<Row[]> {
  deps.log(`low rate: 1 → ${SUBSCRIBERS} × ${LOW.size} B at ${LOW.rate} msg/s for ${LOW.durationMs / 1000} s after a warm-up of ${warmupMs / 1000} s, ${LOW.rounds} rounds`);
  const low: Row[] = [];
  for (let round = 1; round <= LOW.rounds; round++) {
    for (const target of [wsRaw, sluice('ws', 'disconnect'), uwsRaw, sluice('uws', 'disconnect')]) {
      low.push({ target, stopped: 0, policy: target.dialect === 'sluice' ? 'disconnect' : 'none', round, r: await deps.run(target, { ...plan(LOW.size, LOW.rate, 0, 0), publishersApart: true }, LOW.durationMs, phases(warmupMs, 0)) });
    }
  }
  return low;
}

/** A row's runs as one row: the run with the median p99 (the lower middle one of an even count; a run that did not happen counts as the highest), every p99 beside it. */
function medianRun(runs: Row[]): Row {
  if (runs.length === 1) return runs[0]!;
  const p99 = (row: Row): number => row.r?.latency.p99 ?? Infinity;
  const sorted = [...runs].sort((a, b) => p99(a) - p99(b));
  return { ...sorted[Math.floor((runs.length - 1) / 2)]!, p99s: runs.map((row) => row.r?.latency.p99) };
}

/** The same workload on the other transport, same dialect and framing (batch frames or not). */
const twinOf = (rows: Row[], row: Row): Row | undefined =>
  rows.find((x) => x !== row && x.stopped === row.stopped && x.policy === row.policy && x.target.dialect === row.target.dialect && batched(x.target) === batched(row.target) && transportOf(x.target) !== transportOf(row.target));

/** uws ÷ ws in deliveries per server-CPU-second for this row's workload. */
function uwsOverWs(rows: Row[], row: Row): number | undefined {
  const twin = twinOf(rows, row);
  const [uws, ws] = transportOf(row.target) === 'uws' ? [row, twin] : [twin, row];
  const a = perCpuSecond(uws);
  const b = perCpuSecond(ws);
  return a === undefined || b === undefined ? undefined : a / b;
}

const noneStopped = (rows: Row[], row: Row): Row | undefined => rows.find((x) => x.stopped === 0 && sameKind(x.target, row.target));

function highTable(rows: Row[], seed: number, warmupMs: number, windowBytes: number): string {
  const head = [
    'server', 'run', 'stopped', 'policy', 'load avg', 'window from', 'offered/s (reading)', 'delivered/s while publishing', 'kept up', 'events per frame', 'p50 / p99 ms', 'p99 × none stopped', 'delivered by end of drain',
    'server CPU while publishing', 'generator CPU', 'server µs CPU per delivery', 'deliveries per server-CPU-s', 'uws ÷ ws',
    'shed/s while publishing (server)', 'stopped: share of their messages shed', 'closed 4100 (whole run)',
  ];
  const body = rows.map((row) => {
    if (row.r === undefined) return [row.target.label, String(row.run ?? '–'), `${row.stopped * 100}%`, row.policy, 'unavailable', ...head.slice(5).map(() => '')];
    const r = row.r;
    const base = noneStopped(rows, row)?.r?.latency.p99;
    const s = steady(row);
    return [
      row.target.label,
      String(row.run ?? '–'),
      `${row.stopped * 100}%`,
      row.policy,
      `${f(r.loadAverage.start, 1)}–${f(r.loadAverage.end, 1)}`,
      r.steady === undefined ? '–' : `${(r.steady.fromMs / 1000).toFixed(1)} s`,
      millions(s?.offered),
      millions(s?.delivered),
      pct(s?.share),
      f(eventsPerFrame(r), 1),
      `${f(r.latency.p50, 0)} / ${f(r.latency.p99, 0)}${row.p99s === undefined ? '' : ` (median of ${row.p99s.map((p) => f(p, 0)).join(', ')})`}`,
      row.stopped > 0 && base ? `${(r.latency.p99 / base).toFixed(2)}×` : '–',
      pct(deliveredShare(row)),
      pct(r.steady?.serverCpu),
      pct(r.steady?.generatorCpu),
      f(cpuPerDelivery(r), 2),
      millions(perCpuSecond(row)),
      f(uwsOverWs(rows, row), 2),
      ...shedCells(row),
    ];
  });
  const title = `### High rate: 1 publisher × ${HIGH.rate} msg/s → ${SUBSCRIBERS} subscribers, ${HIGH.size} B (${((HIGH.rate * SUBSCRIBERS) / 1e6).toFixed(1)}M deliveries/s offered) for ${HIGH.durationMs / 1000} s, none and ${STOPPED * 100}% stopped`;
  const legend = [
    `"run": where the row ran; the rows ran in a shuffled order (seed ${seed}; \`npm run bench -- --high-rate --seed ${seed}\` repeats it), so that neither raw nor Sluice always runs on the warmer machine.`,
    warmupMs > 0
      ? `A warm gateway: each row first ran ${warmupMs / 1000} s at its offered rate with every subscriber reading (the warm-up, as a gateway that has run for hours: \`--warmup-s\`); then the stopped subscribers stopped and the measured ${HIGH.durationMs / 1000} s began. p50/p99 are of the messages sent in the measured run; the warm-up's own p99 is in the per-second table. Rates are over the whole measured run ("window from" 0 s, the drain left out), the seconds in which the stopped subscribers' buffers fill and shedding starts included; "offered" is what the publisher sent times the subscribers still reading, "kept up" the share of it they received meanwhile.`
      : `No warm-up (\`--warmup-s 0\`): the servers met the load cold. Rates are over the publishing phase from "window from" on (the drain left out): ${COLD_WINDOW.steadyAfterMs / 1000} s in, and with stopped subscribers on Sluice once the server sheds for them (or closed them), ${COLD_WINDOW.maxSteadyAfterMs / 1000} s in at the latest; "offered" is what the publisher sent times the subscribers still reading, "kept up" the share of it they received meanwhile.`,
    'CPU shares are of one core: the server is pinned to CPU 0, the generator (publisher and subscribers, two threads) to CPU 1. A server that does not keep up with its CPU near 100% is limited by its core;',
    'one below that was waiting (for the generator, or for a core the machine\'s other processes held: see the load average). µs per delivery is over the whole run, warm-up and drain included.',
    '"batch frames": the subscribers offered `sluice.batch`, and the server joined each turn\'s events for a socket into one frame; "events per frame" is the reading subscribers\' deliveries per data frame over the whole run (1.0 without batch frames; frames per delivery is its inverse). Each batching row is compared (p99 × none stopped, uws ÷ ws) with batching rows only, each unbatched row with unbatched rows.',
    ...(windowBytes > 0
      ? [`Receive window (\`--window-bytes\`): every Sluice subscriber, in the none-stopped rows too, asked for a window of ${windowBytes} B and reported what it read every ${windowBytes / 2} B (one \`recv\` frame); a stopped one stops reporting when it stops reading, so the server holds its stream after ${windowBytes} B and its policy acts from there, not after the kernel's socket buffers fill. The raw servers ran without.`]
      : []),
    `Shedding is the server's own count (its /metrics, read when the steady window starts and ends; the stopped subscribers never read the gap frames that announce it): shed/s, and that as a share of the publications the server took in times the ${STOPPED * 100}% stopped (100%: every message for them was shed). Raw servers do not shed.`,
  ];
  return [title, '', ...legend, '', md(head, body)].join('\n');
}

function shedCells(row: Row): string[] {
  const closes = row.r?.serverCounters?.total?.slowConsumerCloses;
  const s = stoppedShed(row);
  return [thousands(s?.perSec), row.stopped > 0 ? pct(s?.share) : '–', closes === undefined ? '–' : String(closes)];
}

/** Server CPU µs per delivery over several runs (CPU and deliveries summed), undefined if any did not run. */
function pooled(rows: Row[]): number | undefined {
  if (rows.length === 0 || rows.some((r) => r.r?.server === undefined)) return undefined;
  const deliveries = rows.reduce((n, r) => n + r.r!.counters.deliveries, 0);
  return deliveries === 0 ? undefined : (rows.reduce((n, r) => n + r.r!.server!.cpuSeconds, 0) * 1e6) / deliveries;
}

const lowOf = (rows: Row[], dialect: string, transport: 'ws' | 'uws', round?: number): Row[] =>
  rows.filter((x) => x.target.dialect === dialect && transportOf(x.target) === transport && (round === undefined || x.round === round));

/** Sluice's CPU per delivery ÷ the raw server's of the same transport: in `round`, or pooled over every round. */
function lowRatio(rows: Row[], transport: 'ws' | 'uws', round?: number): number | undefined {
  const mine = pooled(lowOf(rows, 'sluice', transport, round));
  const base = pooled(lowOf(rows, 'raw', transport, round));
  return mine === undefined || base === undefined ? undefined : mine / base;
}

function lowTable(rows: Row[], warmupMs: number): string {
  const head = ['round', 'server', 'load avg', 'offered/s', 'delivered/s while publishing', 'server µs CPU per delivery', '× raw, same transport', 'while publishing: µs per delivery, of it user', 'p50 / p99 ms'];
  const body = rows.map((row) => {
    const r = row.r;
    if (r === undefined) return [String(row.round), row.target.label, 'unavailable', ...head.slice(3).map(() => '')];
    const s = steady(row);
    const ratio = row.target.dialect === 'raw' ? undefined : lowRatio(rows, transportOf(row.target), row.round);
    const c = steadyCost(r.steady);
    return [String(row.round), row.target.label, `${f(r.loadAverage.start, 1)}–${f(r.loadAverage.end, 1)}`, s ? `${(s.offered / 1e3).toFixed(0)}k` : '–', s ? `${(s.delivered / 1e3).toFixed(0)}k` : '–', f(cpuPerDelivery(r), 2), ratio === undefined ? '–' : `${ratio.toFixed(2)}×`, c === undefined ? '–' : `${c.us.toFixed(2)}, ${c.userUs.toFixed(2)}`, `${f(r.latency.p50, 1)} / ${f(r.latency.p99, 1)}`];
  });
  const pooledLine = (['ws', 'uws'] as const).map((t) => `${t} ${f(lowRatio(rows, t), 2)}×`).join(', ');
  return [
    `### CPU per delivery at ${((LOW.rate * SUBSCRIBERS) / 1e3).toFixed(0)}k deliveries/s offered: 1 publisher × ${LOW.rate} msg/s → ${SUBSCRIBERS} subscribers, ${LOW.size} B for ${LOW.durationMs / 1000} s, ${LOW.rounds} round${LOW.rounds === 1 ? '' : 's'}`,
    '',
    warmupMs > 0
      ? `Each run first ran ${warmupMs / 1000} s at the same rate (the warm-up, as for the 1.8M/s rows), raw servers too; "server µs CPU per delivery" is over the whole run (warm-up, run and drain), as there, and judges the target. "While publishing" is over the measured run's publishing alone, and its user part is the server's own code (the rest is the kernel's: the writes, and loopback's receive run on the sender's core); /proc splits the two by the timer tick, so the user part is the noisier.`
      : 'No warm-up (`--warmup-s 0`): the servers met the load cold; "server µs CPU per delivery" is over the whole run (run and drain). "While publishing" is over the publishing alone, and its user part is the server\'s own code.',
    '',
    md(head, body),
    '',
    `Over ${LOW.rounds === 1 ? 'the round' : `all ${LOW.rounds} rounds`} (CPU and deliveries summed), Sluice ÷ raw of the same transport: ${pooledLine}.`,
  ].join('\n');
}

/** At or above this share of its core while publishing, the generator's own queueing is part of the latency it measures. */
const GENERATOR_BUSY = 0.9;

/** Says so when the generator, not only the server, was near its core's limit in a row: its p99 is then partly the generator's. */
function whoseLatency(row: Row): string {
  const s = row.r?.steady;
  if (s === undefined || s.generatorCpu < GENERATOR_BUSY) return '';
  return `; the generator at ${pct(s.generatorCpu)} of its core, the server at ${pct(s.serverCpu)}: part of this latency is the generator's`;
}

/** The issue's "Done when", each judged on the rows above (a row that did not run fails its target). */
function verdicts(rows: Row[], low: Row[], shedding: string[]): string {
  const mark = (ok: boolean): string => (ok ? 'met' : '**not met**');
  const sluiceRows = rows.filter((r) => r.target.dialect === 'sluice');
  const uwsRows = sluiceRows.filter((r) => transportOf(r.target) === 'uws');
  const ratios = uwsRows.map((r) => ({ policy: `${r.stopped > 0 ? `${r.stopped * 100}% stopped, ${r.policy}` : 'none stopped'}${batched(r.target) ? ', batch frames' : ''}`, v: uwsOverWs(rows, r) }));
  const lowRatioUws = lowUwsOverWs(low);
  const allAhead = ratios.every((x) => x.v !== undefined && x.v >= 1) && lowRatioUws !== undefined && lowRatioUws >= 1;
  const lines =
    rows.length > 0
      ? [`- uws ≥ ws in deliveries per server-CPU-second on every workload: ${mark(allAhead)} (${ratios.map((x) => `${x.policy} ${f(x.v, 2)}`).join('; ')}; 100 B at 100k/s ${f(lowRatioUws, 2)}).`]
      : [`- uws ÷ ws in deliveries per server-CPU-second at 100k/s: ${f(lowRatioUws, 2)} (the 1.8M/s workloads did not run).`];
  for (const row of sluiceRows.filter((r) => r.stopped === 0)) {
    const s = steady(row);
    const p99 = row.r?.latency.p99;
    lines.push(`- ${row.target.label} at 1.8M/s offered keeps up (≥ ${KEEP_UP * 100}% delivered, p99 ≤ ${P99_MS} ms): ${mark(s !== undefined && s.share >= KEEP_UP && p99 !== undefined && p99 <= P99_MS)} (${pct(s?.share)}, p99 ${f(p99, 0)} ms${whoseLatency(row)}).`);
  }
  for (const row of sluiceRows.filter((r) => r.stopped > 0)) {
    const s = steady(row);
    const base = noneStopped(rows, row)?.r?.latency.p99;
    const ratio = base && row.r ? row.r.latency.p99 / base : undefined;
    const shed = stoppedShed(row);
    const stoppedNote = row.policy === 'disconnect' ? `${row.r?.serverCounters?.total?.slowConsumerCloses ?? '–'} stopped closed 4100` : `stopped subscribers shed ${thousands(shed?.perSec)}/s, ${pct(shed?.share)} of their messages`;
    lines.push(`- ${row.target.label}, ${row.stopped * 100}% stopped: fast subscribers ≥ ${KEEP_UP * 100}% and p99 ≤ ${P99_SLOW_RATIO}× none stopped: ${mark(s !== undefined && s.share >= KEEP_UP && ratio !== undefined && ratio <= P99_SLOW_RATIO)} (${pct(s?.share)}, p99 ${f(ratio, 2)}×; ${stoppedNote}${whoseLatency(row)}).`);
  }
  for (const transport of ['ws', 'uws'] as const) {
    if (lowOf(low, 'sluice', transport).length === 0) continue;
    const ratio = lowRatio(low, transport);
    const rounds = Array.from({ length: LOW.rounds }, (_, i) => f(lowRatio(low, transport, i + 1), 2)).join(', ');
    lines.push(`- Sluice (${transport}) CPU per delivery at 100k/s ≤ ${LOW_RATIO}× raw of its transport: ${mark(ratio !== undefined && ratio <= LOW_RATIO)} (${f(ratio, 2)}×${LOW.rounds > 1 ? ` over all ${LOW.rounds} rounds; by round ${rounds}` : ', one round'}).`);
  }
  lines.push(...shedding);
  const rawRows = rows.filter((r) => r.target.dialect === 'raw' && r.stopped === 0);
  const ceiling = rawRows.map((r) => `${r.target.label} ${pct(steady(r)?.share)} with its server at ${pct(r.r?.steady?.serverCpu)} CPU`).join(', ');
  return ['### Against the issue\'s targets', '', ...lines, ...(rawRows.length > 0 ? ['', `For scale, the raw servers at 1.8M/s offered kept up: ${ceiling}.`] : [])].join('\n');
}

function lowUwsOverWs(low: Row[]): number | undefined {
  const ws = pooled(lowOf(low, 'sluice', 'ws'));
  const uws = pooled(lowOf(low, 'sluice', 'uws'));
  return ws === undefined || uws === undefined ? undefined : ws / uws;
}

function strip(row: Row): Record<string, unknown> {
  return { ...keepTimeline(row), timeline: undefined };
}

/** A 1.8M/s row keeps its per-second timeline (the fast subscribers' latency second by second: where its p99 came from). */
function keepTimeline(row: Row): Record<string, unknown> {
  return { target: row.target.id, stopped: row.stopped, policy: row.policy, ...(row.round === undefined ? {} : { round: row.round }), ...(row.r ? { ...row.r } : { unavailable: true }) };
}
