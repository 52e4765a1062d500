import type { RunResult } from '../tool/runner.js';
import type { Target } from './targets.js';

/** Markdown tables of benchmark results; ratios are always against rows measured in the same run. */

export interface Workload {
  readonly id: string;
  readonly subscribers: number;
  readonly size: number;
  /** Publications per second offered at saturation and at the fixed (moderate) load. */
  readonly satRate: number;
  readonly fixedRate: number;
}

export interface Cell {
  readonly target: Target;
  readonly unavailable?: string;
  readonly sat?: RunResult;
  readonly fixed?: RunResult;
}

export interface SlowCell {
  readonly target: Target;
  readonly unavailable?: string;
  readonly slow?: RunResult;
  /** The same load with no stopped subscriber. */
  readonly none?: RunResult;
}

export interface IdleCell {
  readonly target: Target;
  readonly unavailable?: string;
  readonly connections?: number;
  readonly rssBeforeMb?: number;
  readonly rssAfterMb?: number;
}

/** Deliveries per second of server CPU time: the primary figure. */
export function efficiency(r: RunResult | undefined): number | undefined {
  if (r?.server === undefined || r.server.cpuSeconds <= 0) return undefined;
  return r.counters.deliveries / r.server.cpuSeconds;
}

const k = (n: number | undefined): string => (n === undefined ? '–' : n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)}k` : n.toFixed(0));
const lat = (r: RunResult | undefined): string => (r === undefined || r.latency.count === 0 ? '–' : `${r.latency.p50.toFixed(1)} / ${r.latency.p99.toFixed(1)}`);

export function workloadTable(w: Workload, cells: Cell[]): string {
  const baselines = cells.filter((c) => c.target.baseline);
  const head = [
    'server',
    'delivered/s',
    'server CPU s',
    '**deliveries per server-CPU-s**',
    ...baselines.map((b) => `× ${b.target.label}`),
    'p50 / p99 ms (saturation)',
    `p50 / p99 ms (${k(w.fixedRate * w.subscribers)}/s offered)`,
    'server RSS max MB',
    'generator CPU peak',
  ];
  const rows = cells.map((c) => {
    if (c.unavailable !== undefined) return [c.target.label, `unavailable: ${c.unavailable}`, ...head.slice(2).map(() => '')];
    const eff = efficiency(c.sat);
    return [
      c.target.label,
      k(c.sat?.deliveriesPerSec),
      c.sat?.server?.cpuSeconds.toFixed(2) ?? '–',
      `**${k(eff)}**`,
      ...baselines.map((b) => {
        const base = efficiency(b.sat);
        return eff === undefined || base === undefined ? '–' : `${(eff / base).toFixed(2)}×`;
      }),
      lat(c.sat),
      lat(c.fixed),
      String(Math.max(c.sat?.server?.rssMaxMb ?? 0, c.fixed?.server?.rssMaxMb ?? 0) || '–'),
      c.sat ? `${c.sat.generator.maxCpu}` : '–',
    ];
  });
  const title = `### 1 publisher → ${w.subscribers} subscribers, ${w.size} B messages (saturation: ${w.satRate} msg/s = ${k(w.satRate * w.subscribers)} deliveries/s offered)`;
  return [title, '', md(head, rows)].join('\n');
}

export function slowTable(subscribers: number, rate: number, size: number, fraction: number, cells: SlowCell[]): string {
  const head = ['server', 'fast p99 ms, none stopped', `fast p99 ms, ${fraction * 100}% stopped`, 'ratio', 'server RSS MB start → end (max)', 'delivered/s (fast)', 'gaps / 4100 closes'];
  const rows = cells.map((c) => {
    if (c.unavailable !== undefined) return [c.target.label, `unavailable: ${c.unavailable}`, '', '', '', '', ''];
    const a = c.none?.latency.p99;
    const b = c.slow?.latency.p99;
    const s = c.slow?.server;
    return [
      c.target.label,
      a?.toFixed(1) ?? '–',
      b?.toFixed(1) ?? '–',
      a && b ? `${(b / a).toFixed(2)}×` : '–',
      s ? `${s.rssStartMb} → ${s.rssEndMb} (${s.rssMaxMb})` : '–',
      k(c.slow?.deliveriesPerSec),
      c.slow ? `${c.slow.counters.gapFrames} / ${c.slow.counters.closesByCode['4100'] ?? 0}` : '–',
    ];
  });
  return [`### Slow consumers: 1 publisher × ${rate} msg/s → ${subscribers} subscribers, ${size} B, ${fraction * 100}% stop reading`, '', md(head, rows)].join('\n');
}

export function idleTable(cells: IdleCell[]): string {
  const head = ['server', 'idle connections', 'RSS before MB', 'RSS after MB', 'bytes per connection'];
  const rows = cells.map((c) => {
    if (c.unavailable !== undefined) return [c.target.label, `unavailable: ${c.unavailable}`, '', '', ''];
    const per = c.connections && c.rssAfterMb !== undefined && c.rssBeforeMb !== undefined ? Math.round(((c.rssAfterMb - c.rssBeforeMb) * 1048576) / c.connections) : undefined;
    return [c.target.label, String(c.connections ?? '–'), String(c.rssBeforeMb ?? '–'), String(c.rssAfterMb ?? '–'), per === undefined ? '–' : `${(per / 1024).toFixed(1)} KB`];
  });
  return ['### Idle connections (each subscribed to one channel)', '', md(head, rows)].join('\n');
}

export function md(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}
