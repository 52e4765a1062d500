// Loaded into a gateway with `--import` (transport-cost.ts, PROBE=1): every PROBE_MS (default 250) it
// writes one line to stderr, `probe {json}`: the wall-clock time, the longest a 10 ms timer came late
// (the longest turn, give or take 10 ms; monitorEventLoopDelay records nothing on uWS's loop) and the
// loop's utilisation over the period, and the garbage collections that ended in it (count, total and
// longest pause, by kind), so that a latency time series can be lined up with what the gateway's
// thread was doing. Plain JavaScript: it loads before the gateway's TypeScript loader.
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { constants } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

const PERIOD_MS = Number(process.env.PROBE_MS ?? 250);
const KINDS = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'markCompact',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak',
};
const TICK_MS = 10;
let lastTick = performance.now();
let lateMs = 0;
setInterval(() => {
  const t = performance.now();
  lateMs = Math.max(lateMs, t - lastTick - TICK_MS);
  lastTick = t;
}, TICK_MS).unref();
let gc = {};
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = KINDS[e.detail?.kind] ?? 'other';
    const g = (gc[kind] ??= { n: 0, ms: 0, maxMs: 0 });
    g.n++;
    g.ms += e.duration;
    g.maxMs = Math.max(g.maxMs, e.duration);
  }
}).observe({ entryTypes: ['gc'] });
let elu = performance.eventLoopUtilization();
setInterval(() => {
  const now = performance.eventLoopUtilization();
  const round = (n) => Math.round(n * 10) / 10;
  for (const g of Object.values(gc)) Object.assign(g, { ms: round(g.ms), maxMs: round(g.maxMs) });
  const line = {
    at: performance.timeOrigin + performance.now(),
    loopMaxMs: round(Math.max(lateMs, performance.now() - lastTick - TICK_MS)),
    elu: Math.round(performance.eventLoopUtilization(now, elu).utilization * 100) / 100,
    heapMb: round(getHeapStatistics().used_heap_size / 1048576),
    gc,
  };
  process.stderr.write(`probe ${JSON.stringify(line)}\n`);
  lateMs = 0;
  elu = now;
  gc = {};
}, PERIOD_MS).unref();
