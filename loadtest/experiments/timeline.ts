/**
 * A run's second-by-second account, for finding what sets a p99 (transport-cost.ts, PROBE=1): the
 * fast subscribers' latency per second (by when the samples arrived), lined up with the gateway's
 * event loop and garbage collections (gateway-probe.mjs, read from its stderr), its shedding and
 * slow-consumer closes (its /metrics, polled), and the generator's CPU and own stalls.
 */
import { fileURLToPath } from 'node:url';
import type { RunResult } from '../tool/runner.js';
import type { ServerCounters } from '../tool/server-metrics.js';

/** The `--import` that loads the probe into a gateway. */
export const PROBE_ARGS = ['--import', fileURLToPath(new URL('./gateway-probe.mjs', import.meta.url))];

interface GcTally {
  readonly n: number;
  readonly ms: number;
  readonly maxMs: number;
}

export interface ProbeLine {
  readonly at: number;
  readonly loopMaxMs: number;
  readonly elu: number;
  readonly heapMb: number;
  readonly gc: Record<string, GcTally>;
}

/** The probe's line, or undefined for any other stderr line. */
export function parseProbe(line: string): ProbeLine | undefined {
  return line.startsWith('probe {') ? (JSON.parse(line.slice(6)) as ProbeLine) : undefined;
}

export interface CountersAt {
  readonly at: number;
  readonly c: ServerCounters;
}

const f = (n: number | undefined, digits = 0): string => (n === undefined ? '–' : n.toFixed(digits));

/** One row per timeline second: what the probe and the counters said in (previous point, this point]. */
export function timelineTable(r: RunResult, probes: ProbeLine[], counters: CountersAt[]): string {
  const head = 't s | pub/s | deliv/s | p50 | p99 | max ms | gen stall ms | gen cpu | srv cpu | loop max ms | elu | scav n/ms/max | mark n/ms/max | heap MB | shed/s | closed';
  const rows = [head, head.replace(/[^|]/g, '-')];
  let from = r.startedAt - r.warmupMs;
  for (const p of r.timeline) {
    const to = r.startedAt + p.t * 1000;
    const mine = probes.filter((x) => x.at > from && x.at <= to);
    const tally = (kind: string): string => {
      const all = mine.map((x) => x.gc[kind]).filter((g): g is GcTally => g !== undefined);
      if (all.length === 0) return '–';
      return `${all.reduce((s, g) => s + g.n, 0)}/${f(all.reduce((s, g) => s + g.ms, 0))}/${f(Math.max(...all.map((g) => g.maxMs)))}`;
    };
    const before = [...counters].reverse().find((x) => x.at <= from);
    const after = [...counters].reverse().find((x) => x.at <= to);
    const shed = before && after && after.at > before.at ? (after.c.shed - before.c.shed) / ((after.at - before.at) / 1000) : undefined;
    rows.push(
      [
        `${f(p.t, 1)}${p.warm ? ' warm' : ''}`, p.publishedPerSec, p.deliveriesPerSec, f(p.p50), f(p.p99), f(p.maxMs), p.generatorStallMs, f(p.generatorCpu, 2), f(p.serverCpu, 2),
        f(mine.length ? Math.max(...mine.map((x) => x.loopMaxMs)) : undefined), f(mine.length ? mine.reduce((s, x) => s + x.elu, 0) / mine.length : undefined, 2),
        tally('scavenge'), tally('markCompact'), f(mine.at(-1)?.heapMb), f(shed), f(after?.c.slowConsumerCloses),
      ].join(' | '),
    );
    from = to;
  }
  return rows.join('\n');
}
