import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import * as hdr from 'hdr-histogram-js';
import { merge, newHistogram, type Check, type LatencySummary, type TimelinePoint } from './aggregate.js';
import { addCounters, newCounters, type Counters } from './counters.js';
import type { ClientPlan, Dialect, FromWorker, Plan, ToWorker, WorkerPlan } from './plan.js';
import { readProc, selfCpuSeconds } from '../../devkit/proc.js';
import { counterDelta, counterRates, type ServerCounters } from './server-metrics.js';
import { within } from '../../src/util/within.js';

export interface RunOptions {
  readonly url: string;
  readonly dialect: Dialect;
  /** The clients offer `sluice.batch`: a server that selects it sends batch frames, counted event by event. */
  readonly batch?: boolean;
  /**
   * The subscribing clients ask for a receive window of this many bytes (docs/protocol.md, `window`),
   * count what they read and report it with `recv`; a client that stops reading stops reporting.
   * 0 or absent: none. Sluice only.
   */
  readonly windowBytes?: number;
  readonly plan: Plan;
  readonly durationMs: number;
  readonly workers: number;
  /** Sample this process's CPU and RSS from /proc. */
  readonly serverPid?: number;
  readonly connectTimeoutMs?: number;
  /** Upper bound on the whole connect phase. */
  readonly connectPhaseMs?: number;
  /**
   * A warm-up before the measured run (default 0): publishing at the plan's rate with every client
   * reading, the slow ones too; then the slow clients stop reading and the `durationMs` of the
   * measured run begin. The server meets the run warm, as a long-running one would. The warm-up's
   * samples (by send time) are summarised in `warmLatency`, not `latency`; its seconds are in the
   * timeline first, marked `warm` (the last one taken when the measured run starts, t about 0).
   */
  readonly warmupMs?: number;
  /** The start of the measured run left out of the steady figures; default a quarter of the run, at most 1 s. */
  readonly steadyAfterMs?: number;
  /**
   * After `steadyAfterMs`, the steady figures start only once this says so (polled about every 250 ms),
   * or at `maxSteadyAfterMs` at the latest: e.g. once stopped subscribers' queues shed.
   */
  readonly steadyWhen?: () => Promise<boolean>;
  readonly maxSteadyAfterMs?: number;
  /** After publishing stops, wait up to this long for deliveries to settle. */
  readonly drainMs?: number;
  /** Called about once a second with a one-line status. */
  readonly progress?: (line: string) => void;
  /** Reads the server's own counters (a Sluice server's /metrics): taken when publishing starts, over the steady window, and at the end. */
  readonly serverCounters?: () => Promise<ServerCounters | undefined>;
}

export interface RunResult {
  readonly scenario: string;
  readonly url: string;
  readonly dialect: Dialect;
  readonly durationMs: number;
  /** Measured run's start → deliveries settled. */
  readonly measuredMs: number;
  /** The warm-up before the measured run (0: none). */
  readonly warmupMs: number;
  /** Deliveries stopped moving before the drain limit (false: the counts are a snapshot of a run still in flight). */
  readonly settled: boolean;
  readonly connections: { readonly planned: number; readonly connected: number; readonly failed: number };
  readonly counters: Counters;
  readonly deliveriesPerSec: number;
  /** The fast subscribers' latency of the messages sent in the measured run, and of those sent in the warm-up. */
  readonly latency: LatencySummary;
  readonly warmLatency: LatencySummary;
  readonly connectLatency: LatencySummary;
  readonly timeline: TimelinePoint[];
  /** Wall-clock ms when the measured run started (publishing started `warmupMs` before): the timeline's t = 0. */
  readonly startedAt: number;
  readonly server?: { readonly pid: number; readonly cpuSeconds: number; readonly rssStartMb: number; readonly rssEndMb: number; readonly rssMaxMb: number };
  readonly generator: { readonly cpuSeconds: number; readonly maxCpu: number };
  /** Rates over the publishing phase after warm-up, drain left out: what a server sustains while it is offered the load. */
  readonly steady?: SteadyRates;
  /** The machine's 1-minute load average when publishing started and when the run ended. */
  readonly loadAverage: { readonly start: number; readonly end: number };
  /** The server's own counters (when `serverCounters` was given): over the whole run, and per second over the steady window; each missing when a read failed. */
  readonly serverCounters?: { readonly total?: ServerCounters; readonly steadyPerSec?: ServerCounters };
  readonly checks: Check[];
}

export interface SteadyRates {
  /** Milliseconds since publishing started. */
  readonly fromMs: number;
  readonly toMs: number;
  readonly publishedPerSec: number;
  readonly deliveriesPerSec: number;
  /** Fractions of one core over the same window (server from /proc, generator all threads). */
  readonly serverCpu?: number;
  /** The server's CPU seconds over the window, and their user part (the rest is the kernel's: syscalls, loopback receive). */
  readonly serverCpuSeconds?: number;
  readonly serverUserCpuSeconds?: number;
  /** The window's length. */
  readonly seconds: number;
  readonly generatorCpu: number;
}

/** Server CPU µs per delivery over a steady window, and its user part (the server's own code; the rest is the kernel's). */
export function steadyCost(st: SteadyRates | undefined): { us: number; userUs: number } | undefined {
  if (st?.serverCpuSeconds === undefined || st.serverUserCpuSeconds === undefined || st.deliveriesPerSec <= 0) return undefined;
  const deliveries = st.deliveriesPerSec * st.seconds;
  return { us: (st.serverCpuSeconds * 1e6) / deliveries, userUs: (st.serverUserCpuSeconds * 1e6) / deliveries };
}

const now = (): number => performance.timeOrigin + performance.now();
const mb = (bytes: number): number => Math.round(bytes / 1048576 * 10) / 10;
/** Deliveries unchanged this long (over two of the workers' 500 ms progress reports) means the run has settled. */
const SETTLE_MS = 1200;
const WORKER_ENTRY = new URL('./worker-entry.mjs', import.meta.url);

/** The plan's clients dealt round-robin to `workers` threads, and its publishers to one more when it keeps them apart (and has both kinds). */
export function splitClients(plan: Pick<Plan, 'clients' | 'publishersApart'>, workers: number): ClientPlan[][] {
  const publishers = plan.clients.filter((c) => c.publish !== undefined);
  const apart = plan.publishersApart === true && publishers.length > 0 && publishers.length < plan.clients.length;
  const rest = apart ? plan.clients.filter((c) => c.publish === undefined) : plan.clients;
  const shares: ClientPlan[][] = Array.from({ length: workers }, () => []);
  rest.forEach((c, i) => shares[i % workers]!.push(c));
  return apart ? [...shares, publishers] : shares;
}

/** Splits the plan across worker threads, runs it once, and gathers the result. Every phase is bounded in time. */
export async function runLoad(o: RunOptions): Promise<RunResult> {
  const clientShares = splitClients(o.plan, Math.max(1, Math.min(o.workers, Math.max(1, o.plan.clients.length + (o.plan.churn ? 1 : 0)))));
  const workers = clientShares.length;
  const shares: WorkerPlan[] = clientShares.map((clients) => ({
    url: o.url,
    dialect: o.dialect,
    batch: o.batch === true,
    ...(o.windowBytes ? { windowBytes: o.windowBytes } : {}),
    clients,
    churn: o.plan.churn,
    connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
    connectConcurrency: 64,
  }));

  const latest: Counters[] = shares.map(() => newCounters());
  /** The workers' latency samples and longest tick delay since the timeline's last point. */
  const recent = newHistogram();
  let stallMs = 0;
  const finals: Array<Extract<FromWorker, { type: 'final' }>> = [];
  let readyCount = 0;
  let connected = 0;
  let failed = 0;
  let onReady = (): void => {};
  let onFinal = (): void => {};
  let workerFailure: string | undefined;
  const threads = shares.map((share, i) => {
    const w = new Worker(WORKER_ENTRY, { workerData: share });
    w.on('message', (msg: FromWorker) => {
      if (msg.type === 'ready') {
        connected += msg.connected;
        failed += msg.failed;
        if (++readyCount === workers) onReady();
      } else if (msg.type === 'progress') {
        latest[i] = msg.counters;
        recent.add(hdr.decodeFromCompressedBase64(msg.recent, 32, false));
        stallMs = Math.max(stallMs, msg.tickLateMs);
      } else {
        latest[i] = msg.counters;
        finals.push(msg);
        if (finals.length === workers) onFinal();
      }
    });
    // Said whatever the caller's progress shows: a worker that threw stops counting, and the run would only time out.
    w.on('error', (err) => {
      workerFailure ??= `worker ${i} failed: ${err.message}`;
      console.error(`worker ${i} failed: ${err.stack ?? err.message}`);
    });
    return w;
  });
  const send = (msg: ToWorker): void => threads.forEach((w) => w.postMessage(msg));
  const total = (): Counters => latest.reduce((sum, c) => addCounters(sum, c), newCounters());

  try {
    const connectedInTime = await within(new Promise<void>((r) => (onReady = r)), o.connectPhaseMs ?? 120_000);
    if (!connectedInTime) throw new Error(`clients did not connect within ${o.connectPhaseMs ?? 120_000} ms`);
    o.progress?.(`connected ${connected}/${o.plan.clients.length} clients (${failed} failed) on ${workers} worker thread(s)`);

    const counters0 = await o.serverCounters?.();
    const proc0 = o.serverPid === undefined ? undefined : readProc(o.serverPid);
    let rssMax = proc0?.rssBytes ?? 0;
    const gen0 = selfCpuSeconds();
    let genMax = 0;
    const startAt = now() + 100;
    const warmupMs = Math.max(0, o.warmupMs ?? 0);
    const measureAt = startAt + warmupMs;
    const steadyFrom = measureAt + (o.steadyAfterMs ?? Math.min(1000, o.durationMs / 4));
    const load0 = loadavg()[0]!;
    const steadyBy = o.steadyWhen === undefined ? steadyFrom : measureAt + Math.max(o.maxSteadyAfterMs ?? o.durationMs / 2, steadyFrom - measureAt);
    send({ type: 'start', startAt, measureFrom: measureAt, durationMs: o.durationMs, steadyFrom: o.steadyWhen === undefined ? steadyFrom : Infinity });
    const timeline: TimelinePoint[] = [];
    let prev = { at: startAt, c: newCounters(), server: proc0, gen: gen0 };
    /** The warm-up's last point is taken when the measured run starts, so that no point spans both. */
    let warmEnded = warmupMs === 0;
    const sample = (warm = false): Counters => {
      const at = now();
      const c = total();
      const server = o.serverPid === undefined ? undefined : readProc(o.serverPid);
      const gen = selfCpuSeconds();
      const dt = (at - prev.at) / 1000;
      if (dt <= 0) return c;
      const point: TimelinePoint = {
        t: Math.round((at - measureAt) / 100) / 10,
        ...(warm ? { warm: true as const } : {}),
        deliveriesPerSec: Math.round((c.deliveries - prev.c.deliveries) / dt),
        publishedPerSec: Math.round((c.pubSent - prev.c.pubSent) / dt),
        generatorCpu: round2((gen - prev.gen) / dt),
        generatorStallMs: Math.round(stallMs),
        samples: recent.totalCount,
        ...(recent.totalCount > 0 ? { p50: recent.getValueAtPercentile(50) / 1000, p99: recent.getValueAtPercentile(99) / 1000, maxMs: recent.maxValue / 1000 } : {}),
        ...(server && prev.server ? { serverCpu: round2((server.cpuSeconds - prev.server.cpuSeconds) / dt), serverRssMb: mb(server.rssBytes) } : {}),
      };
      recent.reset();
      stallMs = 0;
      if (server) rssMax = Math.max(rssMax, server.rssBytes);
      genMax = Math.max(genMax, point.generatorCpu);
      timeline.push(point);
      o.progress?.(
        `t=${point.t.toFixed(0)}s sent ${c.pubSent} delivered ${c.deliveries} (${point.deliveriesPerSec}/s)` +
          (c.churnCycles > 0 ? ` churn cycles ${c.churnCycles}` : '') +
          (point.serverCpu !== undefined ? ` server cpu ${(point.serverCpu * 100).toFixed(0)}% rss ${point.serverRssMb} MB` : '') +
          ` generator cpu ${(point.generatorCpu * 100).toFixed(0)}%`,
      );
      prev = { at, c, server, gen };
      return c;
    };

    // Publishing phase, then drain: stop when deliveries have not moved for a while (bounded by drainMs).
    const publishEnd = measureAt + o.durationMs;
    const cpuNow = (): CpuAt => {
      const p = o.serverPid === undefined ? undefined : readProc(o.serverPid);
      return { at: now(), server: p?.cpuSeconds, serverUser: p === undefined ? undefined : p.cpuSeconds - p.systemSeconds, gen: selfCpuSeconds() };
    };
    let steady0: CpuAt | undefined;
    let steadyCounters0: { at: number; c: ServerCounters | undefined } | undefined;
    /** A second's point due within 100 ms before the measured run starts waits for it: no point is a sliver of the warm-up. */
    const sliver = (): boolean => !warmEnded && measureAt - (prev.at + 1000) <= 100;
    while (now() < publishEnd) {
      await sleep(Math.min(sliver() ? Infinity : 1000 - (now() - prev.at), publishEnd - now(), warmEnded ? Infinity : measureAt - now(), steady0 === undefined ? Math.max(steadyFrom - now(), o.steadyWhen ? 250 : 0) : Infinity));
      if (!warmEnded && now() >= measureAt) {
        warmEnded = true;
        sample(true);
      }
      if (steady0 === undefined && now() >= steadyFrom && (o.steadyWhen === undefined || now() >= steadyBy || (await o.steadyWhen()))) {
        if (o.steadyWhen) send({ type: 'steady' });
        steady0 = cpuNow();
        if (o.serverCounters) steadyCounters0 = await countersAt(o.serverCounters);
      }
      if (now() - prev.at >= 999 && !sliver()) sample(!warmEnded);
    }
    const steady1 = cpuNow();
    const steadyCounters1 = o.serverCounters ? await countersAt(o.serverCounters) : undefined;
    const drainUntil = now() + (o.drainMs ?? 3000);
    let last = -1;
    let stillSince = now();
    let settled = false;
    while (now() < drainUntil) {
      await sleep(Math.min(1000, drainUntil - now(), 250));
      const d = total().deliveries;
      if (d !== last) {
        last = d;
        stillSince = now();
      } else if (now() - stillSince >= SETTLE_MS) {
        settled = true;
        break;
      }
      if (now() - prev.at >= 1000) sample();
    }
    const endAt = now();
    sample();
    const proc1 = o.serverPid === undefined ? undefined : readProc(o.serverPid);
    const gen1 = selfCpuSeconds();
    const counters1 = await o.serverCounters?.();

    send({ type: 'finish' });
    if (!(await within(new Promise<void>((r) => (onFinal = r)), 10_000))) throw new Error(`workers did not report within 10 s of finishing${workerFailure === undefined ? '' : ` (${workerFailure})`}`);
    const merged = merge(finals, o.plan, o.dialect, settled);
    const measuredMs = endAt - measureAt;
    const steady = steadyRates(finals, measureAt, steady0, steady1);
    return {
      scenario: o.plan.scenario,
      url: o.url,
      dialect: o.dialect,
      durationMs: o.durationMs,
      measuredMs: Math.round(measuredMs),
      warmupMs,
      settled,
      connections: { planned: o.plan.clients.length, connected, failed },
      counters: merged.counters,
      deliveriesPerSec: Math.round(merged.counters.deliveries / ((endAt - startAt) / 1000)),
      latency: merged.latency,
      warmLatency: merged.warmLatency,
      connectLatency: merged.connect,
      timeline,
      startedAt: measureAt,
      ...(proc0 && proc1
        ? { server: { pid: o.serverPid!, cpuSeconds: round2(proc1.cpuSeconds - proc0.cpuSeconds), rssStartMb: mb(proc0.rssBytes), rssEndMb: mb(proc1.rssBytes), rssMaxMb: mb(rssMax) } }
        : {}),
      generator: { cpuSeconds: round2(gen1 - gen0), maxCpu: genMax },
      ...(steady ? { steady } : {}),
      loadAverage: { start: load0, end: loadavg()[0]! },
      ...serverCounters(counters0, counters1, steadyCounters0, steadyCounters1),
      checks: merged.checks,
    };
  } finally {
    await Promise.all(threads.map((w) => w.terminate()));
  }
}

type CountersAt = { at: number; c: ServerCounters | undefined } | undefined;

/** The server reads its counters when it answers, so the answer's arrival is when they were taken. */
async function countersAt(read: () => Promise<ServerCounters | undefined>): Promise<CountersAt> {
  const c = await read();
  return { at: now(), c };
}

function serverCounters(start: ServerCounters | undefined, end: ServerCounters | undefined, from: CountersAt, to: CountersAt): Pick<RunResult, 'serverCounters'> {
  if (from === undefined) return {};
  return {
    serverCounters: {
      ...(start !== undefined && end !== undefined ? { total: counterDelta(start, end) } : {}),
      ...(from.c !== undefined && to?.c !== undefined && to.at > from.at ? { steadyPerSec: counterRates(from.c, to.c, (to.at - from.at) / 1000) } : {}),
    },
  };
}

interface CpuAt {
  readonly at: number;
  readonly server: number | undefined;
  /** The user part of `server`. */
  readonly serverUser: number | undefined;
  readonly gen: number;
}

/** Each worker's rates over its own steady window, summed (deliveries are counted per worker, publications by the publisher's). */
function steadyRates(finals: Array<Extract<FromWorker, { type: 'final' }>>, startAt: number, cpu0: CpuAt | undefined, cpu1: CpuAt): SteadyRates | undefined {
  let published = 0;
  let delivered = 0;
  let from = Infinity;
  let to = 0;
  for (const { steady } of finals) {
    if (steady.from === undefined || steady.to === undefined || steady.to.at <= steady.from.at) return undefined;
    const s = (steady.to.at - steady.from.at) / 1000;
    published += (steady.to.pubSent - steady.from.pubSent) / s;
    delivered += (steady.to.deliveries - steady.from.deliveries) / s;
    from = Math.min(from, steady.from.at);
    to = Math.max(to, steady.to.at);
  }
  if (cpu0 === undefined || finals.length === 0) return undefined;
  const s = (cpu1.at - cpu0.at) / 1000;
  return {
    fromMs: Math.round(from - startAt),
    toMs: Math.round(to - startAt),
    publishedPerSec: Math.round(published),
    deliveriesPerSec: Math.round(delivered),
    ...(cpu0.server !== undefined && cpu1.server !== undefined ? { serverCpu: round2((cpu1.server - cpu0.server) / s), serverCpuSeconds: round3(cpu1.server - cpu0.server) } : {}),
    ...(cpu0.serverUser !== undefined && cpu1.serverUser !== undefined ? { serverUserCpuSeconds: round3(cpu1.serverUser - cpu0.serverUser) } : {}),
    seconds: round3(s),
    generatorCpu: round2((cpu1.gen - cpu0.gen) / s),
  };
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}
