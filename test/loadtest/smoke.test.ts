import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { Gateway } from '../../src/gateway.js';
import type { Plan } from '../../loadtest/plan.js';
import { runLoad, type RunResult } from '../../loadtest/runner.js';
import { BASE_KNOBS, SCENARIOS, type Knobs } from '../../loadtest/scenarios.js';

/** A few seconds of the load tool against an in-process gateway: it runs, and its counts add up. Never timings. */

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.shutdown();
  gateway = undefined;
});

function pairs(flags: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < flags.length; i += 2) out.push([flags[i]!.slice(2), flags[i + 1]!]);
  return out;
}

async function run(name: string, knobs: Partial<Knobs>, durationMs: number): Promise<{ result: RunResult; plan: Plan }> {
  const scenario = SCENARIOS[name]!;
  const plan = scenario.build({ ...BASE_KNOBS, ...scenario.defaults, ...knobs }, durationMs);
  const config = loadConfig({ flags: pairs(plan.serverFlags), overrides: { host: '127.0.0.1', port: 0, log: { level: 'silent', healthSummaryIntervalMs: 0 } } });
  gateway = await Gateway.start({ config, log: pino({ level: 'silent' }) });
  const result = await runLoad({ url: `ws://127.0.0.1:${gateway.port}/`, dialect: 'sluice', plan, durationMs, workers: 2, serverPid: process.pid, drainMs: 5000 });
  return { result, plan };
}

describe('load tool smoke run', () => {
  it('fanout: every accepted publication reaches every subscriber', async () => {
    const { result } = await run('fanout', { subscribers: 20, rate: 50 }, 1000);
    const c = result.counters;
    expect(result.connections).toEqual({ planned: 21, connected: 21, failed: 0 });
    expect(c.pubSent).toBe(50);
    expect(c.pubAccepted).toBe(c.pubSent);
    expect(c.deliveries).toBe(c.pubAccepted * 20);
    expect(c.sampled).toBeGreaterThan(0);
    expect(result.latency.count).toBe(c.sampled);
    expect(result.server?.cpuSeconds).toBeGreaterThanOrEqual(0);
    expect(result.checks.length).toBeGreaterThan(0);
    expect(result.checks.filter((k) => !k.ok)).toEqual([]);
  });

  it('sensor: sent = accepted + rate-limited, and subscribers get every accepted message', async () => {
    const { result } = await run('sensor', { devices: 10, subscribers: 2, rate: 20, hotFraction: 0.2, hotFactor: 5 }, 1500);
    const c = result.counters;
    expect(c.pubSent).toBe(8 * 30 + 2 * 150);
    expect(c.pubAccepted + c.pubRateLimited).toBe(c.pubSent);
    // Hot devices send 150 in 1.5 s against a bucket of 40 + 40/s.
    expect(c.pubRateLimited).toBeGreaterThan(0);
    expect(c.deliveries).toBe(c.pubAccepted * 2);
    expect(result.checks.filter((k) => !k.ok)).toEqual([]);
  });

  it('chat: exactly once and in order across a drop and resume', async () => {
    const { result } = await run('chat', { rooms: 2, members: 3, rate: 20, drops: 1 }, 1500);
    const c = result.counters;
    expect(c.resumes).toBe(6);
    expect(c.resumesUnrecovered).toBe(0);
    expect(c.pubAccepted + c.pubUnanswered).toBe(c.pubSent);
    expect(c.duplicates + c.missing + c.outOfOrder).toBe(0);
    const verify = result.checks.find((k) => k.name.startsWith('every member'));
    expect(verify?.ok).toBe(true);
  });
});
