/**
 * Where each 1.8M/s row's p99 came from: the fast subscribers' latency second by second (by when the
 * samples arrived), beside the longest a generator thread's tick came late in that second. A p99
 * over the whole run is set by its worst ~1% of samples, at this rate about 120 ms of publishing:
 * one stall of a few hundred ms anywhere in the run sets it, and this table says when that was
 * (the start, the stopped subscribers' fill, their closing, or throughout) and whether the
 * generator itself stalled then (which a receive timestamp counts as latency).
 */
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

/** The seconds (1-based, by the timeline's points) whose own p99 exceeded the run's p99: where the run's top 1% lies. */
export function secondsOverP99(r: RunResult): number[] {
  return r.timeline.flatMap((p, i) => (p.p99 !== undefined && p.p99 > r.latency.p99 ? [i + 1] : []));
}

export function secondsTable(rows: SecondsRow[]): string {
  const seconds = Math.max(0, ...rows.map((row) => row.r?.timeline.length ?? 0));
  const head = ['server', 'run', 'stopped', 'policy', 'p99 ms (run)', 'seconds over it', ...Array.from({ length: seconds }, (_, i) => `s${i + 1}`), 'generator stall ms, worst second'];
  const body = rows.map((row) => {
    const r = row.r;
    const cells = Array.from({ length: seconds }, (_, i) => {
      const p = r?.timeline[i];
      return p === undefined ? '' : p.generatorStallMs >= 50 ? `${f(p.p99)} (${p.generatorStallMs})` : f(p.p99);
    });
    const stall = r === undefined ? undefined : Math.max(0, ...r.timeline.map((p) => p.generatorStallMs));
    return [row.label, String(row.run ?? '–'), `${row.stopped * 100}%`, row.policy, f(r?.latency.p99), r ? secondsOverP99(r).join(' ') || '–' : '–', ...cells, f(stall)];
  });
  return [
    '### Latency second by second at 1.8M/s',
    '',
    'The fast subscribers\' p99 (ms) in each second of the run, by when the samples arrived (s1 is the first second of publishing; the last points are the drain). "seconds over it": the seconds whose own p99 exceeded the run\'s, where its worst 1% lies. In brackets, where 50 ms or more: the longest a generator thread\'s 5 ms tick came late in that second (the generator\'s own stall, counted as latency by the samples it delays).',
    '',
    md(head, body),
  ].join('\n');
}
