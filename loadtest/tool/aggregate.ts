import * as hdr from 'hdr-histogram-js';
import { addCounters, newCounters, type Counters } from './counters.js';
import type { FromWorker, Plan, VerifyRecord } from './plan.js';

type Final = Extract<FromWorker, { type: 'final' }>;

/** Latency histograms in microseconds; the pure-JS build (no wasm to initialise in every thread). */
export function newHistogram(): hdr.Histogram {
  return hdr.build({ useWebAssembly: false, lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
}

export interface LatencySummary {
  readonly count: number;
  /** Milliseconds. */
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  /** [percentile, ms] points for plotting. */
  readonly curve: Array<[number, number]>;
}

/** One point per second of the run. */
export interface TimelinePoint {
  /** Seconds since the measured run started: a warm-up's points before it, negative, its last at about 0. */
  readonly t: number;
  /** The point's second was the warm-up's (every subscriber reading, before the measured run). */
  readonly warm?: true;
  readonly deliveriesPerSec: number;
  readonly publishedPerSec: number;
  /** Fractions of one core. */
  readonly serverCpu?: number;
  readonly serverRssMb?: number;
  readonly generatorCpu: number;
  /** Latency samples the workers reported in this second (their reports come every 500 ms: the last ones of a run may be in no point). */
  readonly samples: number;
  /** The fast subscribers' latency over those samples (ms), absent when none arrived. */
  readonly p50?: number;
  readonly p99?: number;
  readonly maxMs?: number;
  /** The longest a generator thread's 5 ms tick came late in this second (ms): the generator's own stall, which a receive timestamp would count as latency. */
  readonly generatorStallMs: number;
}

export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface Merged {
  readonly counters: Counters;
  readonly latency: LatencySummary;
  readonly warmLatency: LatencySummary;
  readonly connect: LatencySummary;
  readonly checks: Check[];
}

const ms = (us: number): number => Math.round(us) / 1000;

export function summarise(h: hdr.Histogram): LatencySummary {
  const at = (p: number): number => ms(h.getValueAtPercentile(p));
  const curve: Array<[number, number]> = [0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100].map((p) => [p, h.totalCount > 0 ? at(p) : 0]);
  if (h.totalCount === 0) return { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, curve };
  return { count: h.totalCount, p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: ms(h.maxValue), curve };
}

/** Sums the workers' final reports and checks that the counts add up. */
export function merge(finals: Final[], plan: Plan, dialect: string, settled: boolean): Merged {
  const counters = newCounters();
  const latency = newHistogram();
  const warmLatency = newHistogram();
  const connect = newHistogram();
  const accepted: Record<string, number> = {};
  const maxSeq: Record<string, number> = {};
  const verify: VerifyRecord[] = [];
  for (const f of finals) {
    addCounters(counters, f.counters);
    latency.add(hdr.decodeFromCompressedBase64(f.latency, 32, false));
    warmLatency.add(hdr.decodeFromCompressedBase64(f.warmLatency, 32, false));
    connect.add(hdr.decodeFromCompressedBase64(f.connect, 32, false));
    for (const [ch, n] of Object.entries(f.acceptedByChannel)) accepted[ch] = (accepted[ch] ?? 0) + n;
    for (const [ch, s] of Object.entries(f.maxSeqByChannel)) maxSeq[ch] = Math.max(maxSeq[ch] ?? 0, s);
    verify.push(...f.verify);
  }
  return { counters, latency: summarise(latency), warmLatency: summarise(warmLatency), connect: summarise(connect), checks: checks(counters, plan, dialect, settled, accepted, maxSeq, verify) };
}

function checks(c: Counters, plan: Plan, dialect: string, settled: boolean, accepted: Record<string, number>, maxSeq: Record<string, number>, verify: VerifyRecord[]): Check[] {
  const out: Check[] = [];
  if (plan.clients.length > 0) out.push({ name: 'every client connected', ok: c.connectsFailed === 0, detail: `${c.connectsFailed} failed connection attempts` });
  out.push({ name: 'deliveries settled before the drain limit', ok: settled, detail: settled ? 'yes' : 'no: the generator or server was still behind; counts below are a snapshot' });
  if (dialect === 'sluice' && c.pubSent > 0) {
    const answered = c.pubAccepted + c.pubRateLimited + c.pubOtherErrors + c.pubUnanswered;
    out.push({
      name: 'sent = accepted + rate-limited + refused + unanswered (connection dropped)',
      ok: answered === c.pubSent,
      detail: `${c.pubSent} = ${c.pubAccepted} + ${c.pubRateLimited} + ${c.pubOtherErrors} + ${c.pubUnanswered}`,
    });
  }
  const lossless = plan.lossless && settled && c.connectsFailed === 0 && c.unexpectedCloses === 0 && c.gapFrames === 0 && c.pubUnanswered === 0;
  if (plan.lossless && plan.clients.some((p) => p.subscribe.length > 0)) {
    const subs: Record<string, number> = {};
    for (const p of plan.clients) for (const ch of p.subscribe) subs[ch] = (subs[ch] ?? 0) + 1;
    const acceptedOf = (ch: string): number => (dialect === 'sluice' ? (accepted[ch] ?? 0) : 0);
    const expected = Object.entries(subs).reduce((sum, [ch, n]) => sum + acceptedOf(ch) * n, 0);
    if (dialect === 'sluice') {
      out.push({
        name: 'deliveries = Σ accepted × subscribers',
        ok: lossless ? c.deliveries === expected : true,
        detail: lossless ? `${c.deliveries} vs ${expected}` : `${c.deliveries} vs ${expected} (not required: unsettled, a connection failed or closed, a publication went unanswered, or messages were shed)`,
      });
    }
  }
  if (verify.length > 0) {
    let incomplete = 0;
    let miscounted = 0;
    for (const v of verify) {
      if (v.lastSeq !== (maxSeq[v.ch] ?? 0)) incomplete++;
      if (v.received !== v.lastSeq - v.startSeq) miscounted++;
    }
    const ok = incomplete === 0 && miscounted === 0 && c.duplicates === 0 && c.missing === 0 && c.outOfOrder === 0;
    out.push({
      name: 'every member got every room message exactly once, in order',
      ok,
      detail: `${verify.length} members, ${c.resumes} resumes (${c.resumesUnrecovered} unrecovered), incomplete ${incomplete}, miscounted ${miscounted}, duplicates ${c.duplicates}, missing ${c.missing}, out of order ${c.outOfOrder}`,
    });
  }
  return out;
}
