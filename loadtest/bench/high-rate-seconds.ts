/**
 * Where each 1.8M/s row's p99 came from: the fast subscribers' latency second by second (by when the
 * samples arrived), beside the longest a generator thread's tick came late in that second. A p99
 * over the whole run is set by its worst ~1% of samples, at this rate about 120 ms of publishing:
 * one stall of a few hundred ms anywhere in the run sets it, and this table says when that was
 * (the start, the stopped subscribers' fill, their closing, or throughout) and whether the
 * generator itself stalled then (which a receive timestamp counts as latency).
 */
import type { TimelinePoint } from '../tool/aggregate.js';
import type { RunResult } from '../tool/runner.js';
import { md } from './table.js';

export interface SecondsRow {
  readonly label: string;
  readonly stopped: number;
  readonly policy: string;
  readonly run?: number;
  readonly r: RunResult | undefined;
}

const f = (n: number | undefined): string => (n === undefined ? '–' : String(Math.round(n)));

const warmPoints = (r: RunResult | undefined): TimelinePoint[] => r?.timeline.filter((p) => p.warm) ?? [];
const runPoints = (r: RunResult | undefined): TimelinePoint[] => r?.timeline.filter((p) => !p.warm) ?? [];

/** The seconds of the measured run (1-based, by the timeline's points) whose own p99 exceeded the run's p99: where the run's top 1% lies. */
export function secondsOverP99(r: RunResult): number[] {
  return runPoints(r).flatMap((p, i) => (p.p99 !== undefined && p.p99 > r.latency.p99 ? [i + 1] : []));
}

const cell = (p: TimelinePoint | undefined): string => (p === undefined ? '' : p.generatorStallMs >= 50 ? `${f(p.p99)} (${p.generatorStallMs})` : f(p.p99));

export function secondsTable(rows: SecondsRow[]): string {
  const warmSeconds = Math.max(0, ...rows.map((row) => warmPoints(row.r).length));
  const seconds = Math.max(0, ...rows.map((row) => runPoints(row.r).length));
  const head = [
    'server', 'run', 'stopped', 'policy', 'p99 ms (run)', 'seconds over it', ...(warmSeconds > 0 ? ['warm-up p99 ms'] : []),
    ...Array.from({ length: warmSeconds }, (_, i) => `w${i + 1}`), ...Array.from({ length: seconds }, (_, i) => `s${i + 1}`), 'generator stall ms, worst second',
  ];
  const body = rows.map((row) => {
    const r = row.r;
    const warm = warmPoints(r);
    const run = runPoints(r);
    // Each row's warm-up cells end at the last warm column: s1 lines up in every row.
    const warmCells = Array.from({ length: warmSeconds }, (_, i) => cell(warm[i - (warmSeconds - warm.length)]));
    const stall = r === undefined ? undefined : Math.max(0, ...r.timeline.map((p) => p.generatorStallMs));
    return [
      row.label, String(row.run ?? '–'), `${row.stopped * 100}%`, row.policy, f(r?.latency.p99), r ? secondsOverP99(r).join(' ') || '–' : '–',
      ...(warmSeconds > 0 ? [r && warm.length > 0 ? f(r.warmLatency.p99) : '–'] : []), ...warmCells, ...Array.from({ length: seconds }, (_, i) => cell(run[i])), f(stall),
    ];
  });
  return [
    '### Latency second by second at 1.8M/s',
    '',
    'The fast subscribers\' p99 (ms) in each second, by when the samples arrived: w1… are the warm-up\'s seconds (every subscriber reading, before the measured run; its own p99, of the messages sent in it, in "warm-up p99 ms"; they judge nothing), s1… the measured run\'s (s1 its first second: the stopped subscribers have just stopped; the last points are the drain). "p99 ms (run)" is of the messages sent in the measured run; "seconds over it": the measured seconds whose own p99 exceeded it, where its worst 1% lies. In brackets, where 50 ms or more: the longest a generator thread\'s 5 ms tick came late in that second (the generator\'s own stall, counted as latency by the samples it delays).',
    '',
    md(head, body),
  ].join('\n');
}
