import type { TimelinePoint } from './aggregate.js';
import type { RunResult } from './runner.js';

/**
 * A self-contained HTML report: inline SVG plots drawn here, no script, no external resource, so
 * it opens offline and can be attached to an issue.
 */

interface Series {
  readonly label: string;
  readonly color: string;
  readonly points: Array<[number, number]>;
}

const W = 640;
const H = 240;
const PAD = { l: 64, r: 16, t: 24, b: 36 };

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v) ?? v;
}

/** A line chart; `xLabels` replaces numeric x ticks (used for percentile plots). */
export function lineChart(title: string, yUnit: string, series: Series[], xLabels?: string[]): string {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return `<figure><figcaption>${esc(title)}: no data</figcaption></figure>`;
  const xMax = Math.max(...all.map((p) => p[0]), 1);
  const xMin = Math.min(...all.map((p) => p[0]), 0);
  const yMax = niceMax(Math.max(...all.map((p) => p[1])));
  const x = (v: number): number => PAD.l + ((v - xMin) / (xMax - xMin || 1)) * (W - PAD.l - PAD.r);
  const y = (v: number): number => H - PAD.b - (v / yMax) * (H - PAD.t - PAD.b);
  const grid = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => `<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${y(f * yMax)}" y2="${y(f * yMax)}" stroke="#ddd"/><text x="${PAD.l - 6}" y="${y(f * yMax) + 4}" text-anchor="end">${fmt(f * yMax)}</text>`)
    .join('');
  const xTicks = (xLabels ?? [0, 0.25, 0.5, 0.75, 1].map((f) => fmt(xMin + f * (xMax - xMin))))
    .map((label, i, arr) => `<text x="${x(xMin + (i / Math.max(1, arr.length - 1)) * (xMax - xMin))}" y="${H - PAD.b + 16}" text-anchor="middle">${esc(label)}</text>`)
    .join('');
  const lines = series
    .map((s) => `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${s.points.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ')}"/>`)
    .join('');
  const legend = series.map((s, i) => `<text x="${PAD.l + 8 + i * 150}" y="${PAD.t - 8}" fill="${s.color}">■ ${esc(s.label)}</text>`).join('');
  return `<figure><figcaption>${esc(title)} (${esc(yUnit)})</figcaption><svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-size="11" font-family="sans-serif">${grid}${xTicks}${lines}${legend}</svg></figure>`;
}

function fmt(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

function timeSeries(timeline: TimelinePoint[], pick: (p: TimelinePoint) => number | undefined): Array<[number, number]> {
  return timeline.flatMap((p) => {
    const v = pick(p);
    return v === undefined ? [] : [[p.t, v] as [number, number]];
  });
}

export function htmlReport(r: RunResult, command: string): string {
  // Percentiles plotted on an even scale of "nines" so the tail is readable.
  const curve = r.latency.curve.filter(([p]) => p < 100);
  const percentilePlot = lineChart('End-to-end latency by percentile', 'ms', [{ label: 'latency', color: '#c0392b', points: curve.map(([, v], i) => [i, v]) }], curve.map(([p]) => `p${p}`));
  const deliveries = lineChart('Deliveries per second', 'msg/s', [
    { label: 'delivered', color: '#2471a3', points: timeSeries(r.timeline, (p) => p.deliveriesPerSec) },
    { label: 'published', color: '#7d3c98', points: timeSeries(r.timeline, (p) => p.publishedPerSec) },
  ]);
  const rss = lineChart('Server RSS', 'MB', [{ label: 'rss', color: '#1e8449', points: timeSeries(r.timeline, (p) => p.serverRssMb) }]);
  const cpu = lineChart('CPU', 'cores', [
    { label: 'server', color: '#b9770e', points: timeSeries(r.timeline, (p) => p.serverCpu) },
    { label: 'generator', color: '#566573', points: timeSeries(r.timeline, (p) => p.generatorCpu) },
  ]);
  const rows = Object.entries(flatSummary(r)).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(String(v))}</td></tr>`).join('');
  const checks = r.checks.map((c) => `<li class="${c.ok ? 'ok' : 'bad'}">${c.ok ? '✔' : '✘'} ${esc(c.name)}: ${esc(c.detail)}</li>`).join('');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Sluice load test: ${esc(r.scenario)}</title>
<style>body{font-family:sans-serif;max-width:1340px;margin:2em auto;color:#222}figure{display:inline-block;margin:8px}figcaption{font-weight:bold}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:2px 8px;text-align:left}.ok{color:#1e8449}.bad{color:#c0392b}code{background:#f4f4f4}</style>
</head><body>
<h1>Sluice load test: ${esc(r.scenario)}</h1>
<p><code>${esc(command)}</code></p>
<ul>${checks}</ul>
${percentilePlot}${deliveries}${rss}${cpu}
<table>${rows}</table>
<details><summary>JSON</summary><pre>${esc(JSON.stringify(r, null, 2))}</pre></details>
</body></html>
`;
}

/** The headline figures as label → value, shared by the console and HTML reports. */
export function flatSummary(r: RunResult): Record<string, string | number> {
  const c = r.counters;
  const out: Record<string, string | number> = {
    scenario: r.scenario,
    target: `${r.url} (${r.dialect})`,
    connections: `${r.connections.connected}/${r.connections.planned} (${r.connections.failed} failed)`,
    'publications sent / accepted / rate-limited / refused / unanswered': `${c.pubSent} / ${c.pubAccepted} / ${c.pubRateLimited} / ${c.pubOtherErrors} / ${c.pubUnanswered}`,
    deliveries: `${c.deliveries} (${r.deliveriesPerSec}/s over ${((r.warmupMs + r.measuredMs) / 1000).toFixed(1)} s)`,
    'subscribers\' frames (events per frame)': `${c.frames} (${c.frames > 0 ? (c.deliveries / c.frames).toFixed(2) : '-'})`,
    'latency ms p50 / p90 / p99 / p99.9 / max': `${r.latency.p50} / ${r.latency.p90} / ${r.latency.p99} / ${r.latency.p999} / ${r.latency.max} (${r.latency.count} samples)`,
    'gap frames (dropped / conflated / expired messages)': `${c.gapFrames} (${c.gapDropped} / ${c.gapConflated} / ${c.gapExpired})`,
    'slow-consumer disconnects (4100)': c.closesByCode['4100'] ?? 0,
    'closes by code': JSON.stringify(c.closesByCode),
    'errors by code': JSON.stringify(c.errorsByCode),
  };
  if (r.warmupMs > 0) {
    out[`warm-up of ${r.warmupMs / 1000} s: latency ms p50 / p99 / max`] = `${r.warmLatency.p50} / ${r.warmLatency.p99} / ${r.warmLatency.max} (${r.warmLatency.count} samples)`;
    out['deliveries to the slow subscribers before they stopped'] = c.deliveriesToSlow;
  }
  if (c.windowAcks > 0 || c.recvSent > 0) out['receive windows acknowledged; recv reports sent (per delivery)'] = `${c.windowAcks}; ${c.recvSent} (${c.deliveries > 0 ? (c.recvSent / c.deliveries).toFixed(4) : '-'})`;
  if (c.churnCycles > 0) out['churn cycles; connect→ack ms p50 / p99 / max'] = `${c.churnCycles}; ${r.connectLatency.p50} / ${r.connectLatency.p99} / ${r.connectLatency.max}`;
  if (c.resumes > 0) out['resumes (unrecovered)'] = `${c.resumes} (${c.resumesUnrecovered})`;
  if (r.server) {
    const deliveries = c.deliveries + c.deliveriesToSlow;
    const perDelivery = deliveries > 0 ? ((r.server.cpuSeconds / deliveries) * 1e6).toFixed(2) : '-';
    out['server cpu s (µs per delivery)'] = `${r.server.cpuSeconds} (${perDelivery})`;
    out['server rss MB start / end / max'] = `${r.server.rssStartMb} / ${r.server.rssEndMb} / ${r.server.rssMaxMb}`;
  }
  out['generator cpu s (peak cores)'] = `${r.generator.cpuSeconds} (${r.generator.maxCpu})`;
  return out;
}
