/**
 * The bench's high-rate workloads: what an engineer choosing a transport for a market-data feed
 * asks of it. 1 publisher → 1,000 subscribers, 1 KiB at 1,800 msg/s (1.8M deliveries/s offered) with
 * none and then 10% of the subscribers stopped (each policy), both transports, raw ws and raw uWS
 * beside them; and 100 B at 100 msg/s (100k deliveries/s offered): server CPU per delivery against
 * the raw server of the same transport. Every run is a fresh server process, bounded in time.
 */
import type { RunResult } from '../tool/runner.js';
import type { Plan } from '../tool/plan.js';
import { BASE_KNOBS, SCENARIOS } from '../tool/scenarios.js';
import type { SlowConsumerPolicy } from '../../src/protocol/policy.js';
import { md } from './table.js';
import { sluice, TARGETS, type Target } from './targets.js';

export interface HighRateDeps {
  /** Runs `plan` for `durationMs` against a fresh server of `target`; undefined when it could not start. */
  run(target: Target, plan: Plan, durationMs: number): Promise<RunResult | undefined>;
  log(line: string): void;
}

const SUBSCRIBERS = 1000;
const HIGH = { size: 1024, rate: 1800, durationMs: 3000 };
const LOW = { size: 100, rate: 100, durationMs: 3000 };
const STOPPED = 0.1;
const POLICIES: SlowConsumerPolicy[] = ['disconnect', 'drop-oldest', 'drop-newest', 'conflate'];
/** Conflation keys the publisher cycles through on the conflate channel. */
const KEYS = 100;

const raw = (id: string): Target => TARGETS.find((t) => t.id === id)!;
const transportOf = (t: Target): 'ws' | 'uws' => (t.id.includes('uws') ? 'uws' : 'ws');

function plan(size: number, rate: number, stopped: number, keys: number): Plan {
  return SCENARIOS.fanout!.build({ ...BASE_KNOBS, subscribers: SUBSCRIBERS, size, rate, slowFraction: stopped, keys, sampleEvery: Math.max(1, Math.ceil(rate / 100)) }, 0);
}

interface Row {
  readonly target: Target;
  readonly stopped: number;
  readonly policy: string;
  readonly r: RunResult | undefined;
}

/** Deliveries to the subscribers still reading, as a fraction of what they were offered. */
function deliveredShare(row: Row): number | undefined {
  const r = row.r;
  if (r === undefined) return undefined;
  // Sent less refused: an ack still on its way when the run ends would otherwise count as not published.
  const published = r.counters.pubSent - r.counters.pubRateLimited - r.counters.pubOtherErrors;
  const reading = SUBSCRIBERS - Math.round(SUBSCRIBERS * row.stopped);
  return published > 0 ? r.counters.deliveries / (published * reading) : undefined;
}

/** Server CPU µs per delivery. */
function cpuPerDelivery(r: RunResult | undefined): number | undefined {
  return r?.server === undefined || r.counters.deliveries === 0 ? undefined : (r.server.cpuSeconds * 1e6) / r.counters.deliveries;
}

const f = (n: number | undefined, digits: number): string => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits));

export async function runHighRate(deps: HighRateDeps): Promise<{ sections: string[]; json: Record<string, unknown> }> {
  const wsRaw = raw('ws-framed');
  const uwsRaw = raw('uws');
  const rows: Row[] = [];
  deps.log(`high rate: 1 → ${SUBSCRIBERS} × ${HIGH.size} B at ${HIGH.rate} msg/s, none and ${STOPPED * 100}% stopped`);
  for (const target of [wsRaw, uwsRaw, sluice('ws', 'disconnect'), sluice('uws', 'disconnect')]) {
    rows.push({ target, stopped: 0, policy: target.dialect === 'sluice' ? 'disconnect' : 'none', r: await deps.run(target, plan(HIGH.size, HIGH.rate, 0, 0), HIGH.durationMs) });
  }
  for (const target of [wsRaw, uwsRaw]) rows.push({ target, stopped: STOPPED, policy: 'none', r: await deps.run(target, plan(HIGH.size, HIGH.rate, STOPPED, 0), HIGH.durationMs) });
  for (const policy of POLICIES) {
    for (const transport of ['ws', 'uws'] as const) {
      const target = sluice(transport, policy);
      rows.push({ target, stopped: STOPPED, policy, r: await deps.run(target, plan(HIGH.size, HIGH.rate, STOPPED, policy === 'conflate' ? KEYS : 0), HIGH.durationMs) });
    }
  }

  deps.log(`low rate: 1 → ${SUBSCRIBERS} × ${LOW.size} B at ${LOW.rate} msg/s`);
  const low: Row[] = [];
  for (const target of [wsRaw, sluice('ws', 'disconnect'), uwsRaw, sluice('uws', 'disconnect')]) {
    low.push({ target, stopped: 0, policy: target.dialect === 'sluice' ? 'disconnect' : 'none', r: await deps.run(target, plan(LOW.size, LOW.rate, 0, 0), LOW.durationMs) });
  }
  return { sections: [highTable(rows), lowTable(low)], json: { high: rows.map(strip), low: low.map(strip) } };
}

function highTable(rows: Row[]): string {
  const noneP99 = (t: Target): number | undefined => rows.find((x) => x.stopped === 0 && transportOf(x.target) === transportOf(t) && x.target.dialect === t.dialect)?.r?.latency.p99;
  const perCpu = (row: Row): number | undefined => {
    const us = cpuPerDelivery(row.r);
    return us === undefined ? undefined : 1e6 / us;
  };
  const head = ['server', 'stopped', 'policy', 'delivered (reading subscribers)', 'delivered/s', 'p50 / p99 ms', 'p99 × none stopped', 'server µs CPU per delivery', 'deliveries per server-CPU-s', 'uws ÷ ws', 'shed (gap-announced)'];
  const body = rows.map((row) => {
    if (row.r === undefined) return [row.target.label, `${row.stopped * 100}%`, row.policy, 'unavailable', '', '', '', '', '', '', ''];
    const r = row.r;
    const base = noneP99(row.target);
    const twin = rows.find((x) => x !== row && x.stopped === row.stopped && x.policy === row.policy && x.target.dialect === row.target.dialect && transportOf(x.target) !== transportOf(row.target));
    const mine = perCpu(row);
    const other = twin && perCpu(twin);
    const ratio = mine !== undefined && other !== undefined ? (transportOf(row.target) === 'uws' ? mine / other : other / mine) : undefined;
    const share = deliveredShare(row);
    return [
      row.target.label,
      `${row.stopped * 100}%`,
      row.policy,
      share === undefined ? '–' : `${(share * 100).toFixed(1)}%`,
      `${(r.deliveriesPerSec / 1e6).toFixed(2)}M`,
      `${f(r.latency.p50, 0)} / ${f(r.latency.p99, 0)}`,
      row.stopped > 0 && base ? `${(r.latency.p99 / base).toFixed(2)}×` : '–',
      f(cpuPerDelivery(r), 2),
      mine === undefined ? '–' : `${(mine / 1e6).toFixed(2)}M`,
      ratio === undefined ? '–' : `${ratio.toFixed(2)}`,
      String(r.counters.gapDropped + r.counters.gapConflated + r.counters.gapExpired),
    ];
  });
  const title = `### High rate: 1 publisher × ${HIGH.rate} msg/s → ${SUBSCRIBERS} subscribers, ${HIGH.size} B (${((HIGH.rate * SUBSCRIBERS) / 1e6).toFixed(1)}M deliveries/s offered), none and ${STOPPED * 100}% stopped`;
  return [title, '', md(head, body)].join('\n');
}

function lowTable(rows: Row[]): string {
  const head = ['server', 'delivered/s', 'server µs CPU per delivery', '× raw, same transport', 'p50 / p99 ms'];
  const body = rows.map((row) => {
    const r = row.r;
    if (r === undefined) return [row.target.label, 'unavailable', '', '', ''];
    const rawRow = rows.find((x) => x.target.dialect === 'raw' && transportOf(x.target) === transportOf(row.target));
    const mine = cpuPerDelivery(r);
    const base = cpuPerDelivery(rawRow?.r);
    return [row.target.label, `${(r.deliveriesPerSec / 1e3).toFixed(0)}k`, f(mine, 2), row.target.dialect === 'raw' || mine === undefined || base === undefined ? '–' : `${(mine / base).toFixed(2)}×`, `${f(r.latency.p50, 1)} / ${f(r.latency.p99, 1)}`];
  });
  return [`### CPU per delivery at ${((LOW.rate * SUBSCRIBERS) / 1e3).toFixed(0)}k deliveries/s offered: 1 publisher × ${LOW.rate} msg/s → ${SUBSCRIBERS} subscribers, ${LOW.size} B`, '', md(head, body)].join('\n');
}

function strip(row: Row): Record<string, unknown> {
  return { target: row.target.id, stopped: row.stopped, policy: row.policy, ...(row.r ? { ...row.r, timeline: undefined } : { unavailable: true }) };
}
