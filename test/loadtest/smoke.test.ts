import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runNode } from '../../devkit/process.js';

/**
 * A few seconds of the load tool, run as its users run it (its CLI starting its own gateway), and
 * its report read back: it runs, and its counts add up. Never timings.
 */

const out = mkdtempSync(join(tmpdir(), 'sluice-loadtest-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

interface Report {
  readonly connections: { planned: number; connected: number; failed: number };
  readonly counters: Record<string, number>;
  readonly latency: { count: number };
  readonly warmLatency: { count: number };
  readonly timeline: Array<{ t: number; warm?: true; samples: number; p99?: number }>;
  readonly server?: { cpuSeconds: number };
  readonly checks: Array<{ name: string; ok: boolean }>;
}

/** Runs one scenario through the CLI and returns its JSON report. */
async function run(scenario: string, knobs: Record<string, number>, durationS: number, extra: string[] = []): Promise<Report> {
  const dir = mkdtempSync(join(out, `${scenario}-`));
  const flags = Object.entries(knobs).flatMap(([k, v]) => [`--${k}`, String(v)]);
  const tool = runNode({ script: 'loadtest/tool/cli.ts', args: [scenario, '--spawn', '--duration', String(durationS), '--workers', '2', '--drain-ms', '5000', '--out', dir, ...flags, ...extra] });
  const code = await tool.exited;
  const reports = readdirSync(dir).filter((f) => f.endsWith('.json'));
  // Exit code 1 means a check failed: the report is still written, and the tests look at the checks.
  expect(reports, `exit ${code}; stderr: ${tool.stderr.slice(-2000)}`).toHaveLength(1);
  return JSON.parse(readFileSync(join(dir, reports[0]!), 'utf8')) as Report;
}

describe('load tool smoke run', { timeout: 90_000 }, () => {
  it('fanout: every accepted publication reaches every subscriber', async () => {
    const result = await run('fanout', { subscribers: 20, rate: 50 }, 1);
    const c = result.counters;
    expect(result.connections).toEqual({ planned: 21, connected: 21, failed: 0 });
    expect(c.pubSent).toBe(50);
    expect(c.pubAccepted).toBe(c.pubSent);
    expect(c.deliveries).toBe(c.pubAccepted * 20);
    expect(c.sampled).toBeGreaterThan(0);
    expect(result.latency.count).toBe(c.sampled);
    // The per-second latency: the same samples, those reported before the run's last point.
    const perSecond = result.timeline.reduce((n, p) => n + p.samples, 0);
    expect(perSecond).toBeGreaterThan(0);
    expect(perSecond).toBeLessThanOrEqual(c.sampled);
    expect(result.timeline.filter((p) => p.samples > 0).every((p) => p.p99 !== undefined)).toBe(true);
    expect(result.server?.cpuSeconds).toBeGreaterThanOrEqual(0);
    expect(result.checks.length).toBeGreaterThan(0);
    expect(result.checks.filter((k) => !k.ok)).toEqual([]);
  });

  it('fanout over batch frames: every event counted, every timestamped one sampled, fewer frames than deliveries', async () => {
    // 2,000 msg/s: the publisher writes about ten publications per 5 ms tick, which the gateway reads in one turn and sends as one batch frame.
    const result = await run('fanout', { subscribers: 20, rate: 2000, 'sample-every': 10 }, 1, ['--batch']);
    const c = result.counters;
    expect(c.pubSent).toBe(2000);
    expect(c.pubAccepted).toBe(c.pubSent);
    expect(c.deliveries).toBe(c.pubAccepted * 20);
    expect(c.frames).toBeLessThan(c.deliveries);
    // Publications 0, 10, 20, … carry a timestamp: each is sampled by every subscriber, wherever it sat in its batch.
    expect(c.sampled).toBe((c.pubSent / 10) * 20);
    expect(result.latency.count).toBe(c.sampled);
    expect(result.checks.filter((k) => !k.ok)).toEqual([]);
  });

  it('fanout after a warm-up: the slow subscribers read through it and stop after, its samples and seconds kept apart', async () => {
    const result = await run('fanout', { subscribers: 20, rate: 50, 'slow-fraction': 0.2 }, 1, ['--warmup-ms', '1000']);
    const c = result.counters;
    // Publishing runs through the warm-up and the measured run: 2 s at 50/s.
    expect(c.pubSent).toBe(100);
    expect(c.pubAccepted).toBe(c.pubSent);
    // The 16 that read throughout get every message; the 4 slow ones what reached them before they stopped.
    expect(c.deliveries).toBe(c.pubAccepted * 16);
    expect(c.deliveriesToSlow).toBeGreaterThan(0);
    expect(c.deliveriesToSlow).toBeLessThan(c.pubAccepted * 4);
    expect(result.warmLatency.count).toBeGreaterThan(0);
    expect(result.latency.count).toBeGreaterThan(0);
    expect(result.latency.count + result.warmLatency.count).toBe(c.sampled);
    const warm = result.timeline.filter((p) => p.warm);
    expect(warm.length).toBeGreaterThan(0);
    // The warm-up's points come first, and the measured run's after them, a second or more in (its
    // last warm point is taken when the measured run starts, t about 0, later on a busy machine).
    expect(result.timeline.slice(0, warm.length)).toEqual(warm);
    expect(result.timeline.slice(warm.length).every((p) => !p.warm && p.t > 0)).toBe(true);
  });

  // A 16 KiB receive window (docs/protocol.md, `window`) and about 500 KiB to each subscriber: the
  // gateway writes 16 KiB past a subscriber's last `recv` at most, so every message arrives only if
  // each subscriber counts exactly as the gateway does (a total above what was written is refused
  // with bad_window, one below it stalls the stream until the drain ends short).
  it.each([
    ['ws', []],
    ['ws, batch frames', ['--batch']],
    ['uws, batch frames', ['--batch', '--transport', 'uws']],
    ['uws', ['--transport', 'uws']],
  ])('fanout with a 16 KiB receive window (%s): every message arrives, reported as read', async (_, extra) => {
    const window = 16384;
    const result = await run('fanout', { subscribers: 20, rate: 500, size: 1024 }, 1, ['--window-bytes', String(window), ...extra]);
    const c = result.counters;
    expect(result.connections).toEqual({ planned: 21, connected: 21, failed: 0 });
    expect(c.pubSent).toBe(500);
    expect(c.pubAccepted).toBe(c.pubSent);
    expect(c.windowAcks).toBe(20);
    expect(c.errorsByCode).toEqual({});
    expect(c.unexpectedCloses).toBe(0);
    expect(c.deliveries).toBe(c.pubAccepted * 20);
    expect(c.deliveredBytes / 20).toBeGreaterThan(25 * window);
    // Each subscriber reports once it has read half a window more (its bytes + 1 per event), so at
    // most half a window and one ~1 KiB event apart.
    expect(c.recvSent).toBeGreaterThanOrEqual(20 * Math.floor((c.deliveredBytes + c.deliveries) / 20 / (window / 2 + 2048)));
    expect(result.checks.filter((k) => !k.ok)).toEqual([]);
  });

  it('fanout with a 16 KiB receive window and small messages: more frames than half the window has bytes, and every one arrives', async () => {
    // 9,000 frames of ~60 B to each subscriber: a count one byte short per frame would lag the
    // gateway's by more than half the window, and the stream would stall; one byte over, bad_window.
    const result = await run('fanout', { subscribers: 5, rate: 3000, size: 16 }, 3, ['--window-bytes', '16384']);
    const c = result.counters;
    expect(c.pubSent).toBe(9000);
    expect(c.pubAccepted).toBe(c.pubSent);
    expect(c.windowAcks).toBe(5);
    expect(c.errorsByCode).toEqual({});
    expect(c.deliveries).toBe(c.pubAccepted * 5);
    expect(c.recvSent).toBeGreaterThan(0);
  });

  it('sensor: sent = accepted + rate-limited, and subscribers get every accepted message', async () => {
    const result = await run('sensor', { devices: 10, subscribers: 2, rate: 20, 'hot-fraction': 0.2, 'hot-factor': 5 }, 1.5);
    const c = result.counters;
    expect(c.pubSent).toBe(8 * 30 + 2 * 150);
    expect(c.pubAccepted + c.pubRateLimited).toBe(c.pubSent);
    // Hot devices send 150 in 1.5 s against a bucket of 40 + 40/s.
    expect(c.pubRateLimited).toBeGreaterThan(0);
    expect(c.deliveries).toBe(c.pubAccepted * 2);
    expect(result.checks.filter((k) => !k.ok)).toEqual([]);
  });

  it('chat: exactly once and in order across a drop and resume', async () => {
    const result = await run('chat', { rooms: 2, members: 3, rate: 20, drops: 1 }, 1.5);
    const c = result.counters;
    expect(c.resumes).toBe(6);
    expect(c.resumesUnrecovered).toBe(0);
    expect(c.pubAccepted + c.pubUnanswered).toBe(c.pubSent);
    expect(c.duplicates + c.missing + c.outOfOrder).toBe(0);
    const verify = result.checks.find((k) => k.name.startsWith('every member'));
    expect(verify?.ok).toBe(true);
  });
});
