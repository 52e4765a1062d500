import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { HookBackend } from '../../../devkit/hook-backend.js';
import { mustReadProc } from '../../../devkit/proc.js';
import { ONE_ADDRESS, pinSelf, spawnServer, SLUICE_CLI, type ServerProcess } from '../../../devkit/process.js';
import { machine } from '../../experiments/transport-probe.js';
import { bystander, connects, latencies, openIdle, percentile, saturate, sleep } from './probes.js';

/**
 * `npm run loadtest -- hooks [--short] [--rounds 3] …`: the cost of hooks, side by side in one
 * bounded run against a local backend (in this process, answering at once unless said otherwise).
 *
 * 1. connects/s, subscribe and publish latency p50/p99 with hooks off, a JWT only (HS256), and
 *    each of the connect, subscribe and publish hooks on; one server per mode, modes rotated
 *    round by round so drift hits all alike.
 * 2. Hook calls per second the gateway sustains: publications as fast as it takes them through the
 *    publish hook, beside the same load with no hook, with each server's CPU.
 * 3. Refresh: connections that expire every second and are extended by the refresh hook, beside
 *    the same connections that do not expire: refresh calls per second, publish latency, closes.
 * 4. A bystander's pong while a publish hook's backend takes 2 s against a 200 ms timeout: no
 *    flood, a paced flood on an unhooked channel, the same flood on the hooked channel.
 *
 * Loopback only. Every phase is bounded in count and time. Servers on CPU 0, this process (clients
 * and backend) on CPU 1 when taskset exists. The load average is printed before and after: the
 * machine may be shared. `--out DIR` also writes the figures as JSON.
 */
const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== 'hooks'),
  options: {
    short: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    'window-ms': { type: 'string' },
    samples: { type: 'string' },
    'saturate-ms': { type: 'string' },
    idle: { type: 'string' },
    'refresh-ms': { type: 'string' },
    'bystander-ms': { type: 'string' },
    'flood-rate': { type: 'string' },
    out: { type: 'string' },
  },
});

const pick = (name: keyof typeof args, full: number, short: number): number => {
  const given = args[name];
  const n = typeof given === 'string' ? Number(given) : args.short ? short : full;
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} needs a non-negative number`);
  return n;
};
const ROUNDS = Math.max(1, pick('rounds', 3, 1));
const WINDOW_MS = pick('window-ms', 2000, 300);
const SAMPLES = Math.max(4, pick('samples', 1000, 40));
const SATURATE_MS = pick('saturate-ms', 3000, 300);
const IDLE = pick('idle', 200, 20);
const REFRESH_MS = pick('refresh-ms', 6000, 1500);
const BYSTANDER_MS = pick('bystander-ms', 10_000, 600);
const FLOOD_RATE = pick('flood-rate', 2000, 200);
const SLOTS = 16;
const SAT_PUBLISHERS = 8;
const SAT_IN_FLIGHT = 32;
const FLOODERS = 8;
const SECRET = 'loadtest-secret-of-at-least-32-bytes!!';
const GRANTS = { sub: ['*'], pub: ['*'] };

type Mode = 'off' | 'jwt' | 'connect' | 'subscribe' | 'publish';
const MODES: Mode[] = ['off', 'jwt', 'connect', 'subscribe', 'publish'];

const BASE = ['--log.level', 'silent', '--log.healthSummaryIntervalMs', '0', '--host', '127.0.0.1', '--inbound.messagesPerSecond', '1000000', '--inbound.messagesBurst', '1000000', '--inbound.bytesPerSecond', '1000000000', '--inbound.bytesBurst', '1000000000', ...ONE_ADDRESS];

function modeFlags(mode: Mode, backend: HookBackend): string[] {
  if (mode === 'off') return [];
  if (mode === 'jwt') return ['--auth.keys', JSON.stringify([{ kid: 'k', alg: 'HS256', secret: SECRET }])];
  return [`--hooks.${mode}.url`, backend.url(`/${mode}`), ...measured(mode)];
}

/** A hook measured for its cost, not its fail-safety: a loaded machine's slow answers are waited for, never cut by the breaker. */
function measured(hook: string): string[] {
  return [`--hooks.${hook}.maxConcurrent`, '256', `--hooks.${hook}.timeoutMs`, '10000', `--hooks.${hook}.breakerFailures`, '0'];
}

/** A server's hook calls by result, from its /metrics (`sluice_hook_calls_total`). */
async function hookCalls(server: ServerProcess, hook: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
  const calls: Record<string, number> = {};
  for (const m of text.matchAll(/^sluice_hook_calls_total\{hook="(\w+)",result="(\w+)"\} (\d+)/gm)) if (m[1] === hook) calls[m[2]!] = Number(m[3]);
  return calls;
}

const start = (flags: string[]): Promise<ServerProcess> => spawnServer({ script: SLUICE_CLI, args: [...BASE, ...flags], portFlag: true, cpu: 0, stdout: 'ignore' }, 120_000);
const cpuSeconds = (pid: number): number => mustReadProc(pid).cpuSeconds;
const selfCpuSeconds = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

function load(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average: ${loadavg().map((n) => n.toFixed(2)).join(', ')}`;
  }
}

const f2 = (v: number): string => v.toFixed(2);
const f0 = (v: number): string => v.toFixed(0);
const tally = (r: Record<string, number>): string => Object.entries(r).map(([k, n]) => `${k} ${n}`).join(', ');

async function sideBySide(backend: HookBackend, tokens: string[]) {
  const servers = await Promise.all(MODES.map((mode) => start(modeFlags(mode, backend))));
  const rows = MODES.map((mode, i) => ({ mode, server: servers[i]!, connects: 0, failures: 0, elapsedMs: 0, pubMs: [] as number[], subMs: [] as number[] }));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < rows.length; k++) {
        const row = rows[(k + round) % rows.length]!;
        const own = row.mode === 'jwt' ? tokens : [''];
        console.error(`round ${round + 1}/${ROUNDS}: ${row.mode}`);
        const c = await connects(row.server.url, own, SLOTS, WINDOW_MS);
        row.connects += c.connects;
        row.failures += c.failures;
        row.elapsedMs += c.elapsedMs;
        const l = await latencies(row.server.url, own[0]!, SAMPLES);
        row.pubMs.push(...l.pubMs);
        row.subMs.push(...l.subMs);
      }
    }
    const table = rows.map((r) => ({
      mode: r.mode,
      connectsPerSecond: (r.connects * 1000) / r.elapsedMs,
      connectFailures: r.failures,
      subP50: percentile(r.subMs, 50),
      subP99: percentile(r.subMs, 99),
      pubP50: percentile(r.pubMs, 50),
      pubP99: percentile(r.pubMs, 99),
      samples: r.pubMs.length,
    }));
    const base = table[0]!;
    console.log(`\n1. Side by side: ${ROUNDS} rounds × (${WINDOW_MS} ms of connects on ${SLOTS} slots + ${SAMPLES} publishes + ${SAMPLES / 4} subscribes) per mode`);
    console.log('| mode | connects/s | vs off | sub p50 ms | sub p99 ms | pub p50 ms | pub p99 ms | pub p99 vs off | connect failures |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const t of table) {
      console.log(`| ${t.mode} | ${f0(t.connectsPerSecond)} | ${f2(t.connectsPerSecond / base.connectsPerSecond)} | ${f2(t.subP50)} | ${f2(t.subP99)} | ${f2(t.pubP50)} | ${f2(t.pubP99)} | ${f2(t.pubP99 / base.pubP99)} | ${t.connectFailures} |`);
    }
    return { table, servers: Object.fromEntries(rows.map((r) => [r.mode, r.server])) as Record<Mode, ServerProcess>, stop: () => Promise.all(servers.map((s) => s.stop())) };
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()));
    throw err;
  }
}

async function saturation(backend: HookBackend, plain: ServerProcess, hooked: ServerProcess) {
  const targets = [
    { name: 'no hook', server: plain, acks: 0, hookCalls: 0, elapsedMs: 0, serverCpu: 0, selfCpu: 0, replies: {} as Record<string, number> },
    { name: 'publish hook', server: hooked, acks: 0, hookCalls: 0, elapsedMs: 0, serverCpu: 0, selfCpu: 0, replies: {} as Record<string, number> },
  ];
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(k + round) % targets.length]!;
      console.error(`round ${round + 1}/${ROUNDS}: saturate ${t.name}`);
      const calls = backend.counts.get('/publish') ?? 0;
      const cpu = cpuSeconds(t.server.pid);
      const self = selfCpuSeconds();
      const r = await saturate(t.server.url, '', SAT_PUBLISHERS, SAT_IN_FLIGHT, SATURATE_MS);
      t.serverCpu += cpuSeconds(t.server.pid) - cpu;
      t.selfCpu += selfCpuSeconds() - self;
      t.hookCalls += (backend.counts.get('/publish') ?? 0) - calls;
      t.elapsedMs += r.elapsedMs;
      t.acks += r.replies.ack ?? 0;
      for (const [key, n] of Object.entries(r.replies)) t.replies[key] = (t.replies[key] ?? 0) + n;
    }
  }
  const table = targets.map((t) => ({
    target: t.name,
    acksPerSecond: (t.acks * 1000) / t.elapsedMs,
    hookCallsPerSecond: (t.hookCalls * 1000) / t.elapsedMs,
    serverCpuPercent: (t.serverCpu * 100_000) / t.elapsedMs,
    serverCpuMicrosPerAck: (t.serverCpu * 1e6) / Math.max(1, t.acks),
    clientCpuPercent: (t.selfCpu * 100_000) / t.elapsedMs,
    replies: t.replies,
  }));
  console.log(`\n2. Saturation: ${SAT_PUBLISHERS} publishers × ${SAT_IN_FLIGHT} in flight, a channel each, ${ROUNDS} × ${SATURATE_MS} ms per target (backend answers at once, maxConcurrent 256)`);
  console.log('| target | acks/s | hook calls/s | server CPU % | server CPU µs/ack | clients + backend CPU % | replies |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const t of table) console.log(`| ${t.target} | ${f0(t.acksPerSecond)} | ${f0(t.hookCallsPerSecond)} | ${f0(t.serverCpuPercent)} | ${f0(t.serverCpuMicrosPerAck)} | ${f0(t.clientCpuPercent)} | ${tally(t.replies)} |`);
  const calls = await hookCalls(hooked, 'publish');
  console.log(`publish hook calls by result over phases 1 and 2 (the server's /metrics): ${tally(calls)}`);
  return { table, hookCallsByResult: calls };
}

async function refresh(backend: HookBackend) {
  const sweep = ['--heartbeat.intervalMs', '250', '--heartbeat.idleTimeoutMs', '600000', '--auth.clockToleranceSec', '0'];
  const lasting = await start([...sweep, '--hooks.connect.url', backend.url('/connect'), ...measured('connect')]);
  const expiring = await start([...sweep, '--hooks.connect.url', backend.url('/connect-expiring'), ...measured('connect'), '--hooks.refresh.url', backend.url('/refresh'), ...measured('refresh')]);
  const targets = [
    { name: 'connect hook, no expiry', server: lasting, pubMs: [] as number[], idle: [] as Awaited<ReturnType<typeof openIdle>> },
    { name: 'expiring every 1 s, refresh hook', server: expiring, pubMs: [] as number[], idle: [] as Awaited<ReturnType<typeof openIdle>> },
  ];
  try {
    for (const t of targets) t.idle = await openIdle(t.server.url, IDLE);
    // Let every connection of the expiring server pass its first expiry before counting.
    await sleep(1500);
    const calls = backend.counts.get('/refresh') ?? 0;
    const began = performance.now();
    const per = Math.max(4, Math.round(SAMPLES / 2));
    // Alternating, each turn bounded in count and time: a starved server cannot hold the run.
    while (performance.now() - began < REFRESH_MS) {
      for (const t of targets) t.pubMs.push(...(await latencies(t.server.url, '', per, REFRESH_MS / 4)).pubMs);
    }
    const elapsedMs = performance.now() - began;
    const refreshes = (backend.counts.get('/refresh') ?? 0) - calls;
    const table = targets.map((t) => ({ target: t.name, pubP50: percentile(t.pubMs, 50), pubP99: percentile(t.pubMs, 99), samples: t.pubMs.length, closed: t.idle.filter((c) => c.closed).length }));
    const byResult = await hookCalls(expiring, 'refresh');
    console.log(`\n3. Refresh: ${IDLE} idle connections per server, sweep every 250 ms, ${Math.round(elapsedMs)} ms`);
    console.log(`refresh calls/s: ${f0((refreshes * 1000) / elapsedMs)} (${IDLE} connections expiring every second: ${IDLE}/s expected at most); refresh calls by result: ${tally(byResult)}`);
    console.log('| server | pub p50 ms | pub p99 ms | samples | idle connections closed |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    for (const t of table) console.log(`| ${t.target} | ${f2(t.pubP50)} | ${f2(t.pubP99)} | ${t.samples} | ${t.closed} |`);
    return { refreshCallsPerSecond: (refreshes * 1000) / elapsedMs, refreshCallsByResult: byResult, table };
  } finally {
    for (const t of targets) for (const c of t.idle) c.ws.terminate();
    await Promise.all([lasting.stop(), expiring.stop()]);
  }
}

async function slowBackend(backend: HookBackend) {
  const flags = ['--hooks.publish.url', backend.url('/slow'), '--hooks.publish.timeoutMs', '200', '--hooks.channels', JSON.stringify([{ pattern: 'free', publish: false }])];
  const server = await start(flags);
  try {
    const rows = [];
    for (const [name, ch, rate] of [['no flood', 'free', 0], ['flood on an unhooked channel', 'free', FLOOD_RATE], ['flood on the hooked channel (backend 2 s, timeout 200 ms)', 'hooked', FLOOD_RATE]] as const) {
      console.error(`bystander: ${name}`);
      const r = await bystander(server.url, ch, rate, FLOODERS, BYSTANDER_MS);
      rows.push({ flood: name, pongs: r.pongMs.length, pongP50: percentile(r.pongMs, 50), pongP99: percentile(r.pongMs, 99), pongMax: Math.max(...r.pongMs), replies: r.replies });
    }
    console.log(`\n4. Bystander pong (one ping every 10 ms for ${BYSTANDER_MS} ms) while ${FLOODERS} clients publish ${FLOOD_RATE}/s in all, ≤ 16 outstanding each; publish hook backend at 2 s, timeout 200 ms, maxConcurrent 64`);
    console.log('| flood | pongs | pong p50 ms | pong p99 ms | pong max ms | flood replies |');
    console.log('| --- | ---: | ---: | ---: | ---: | --- |');
    for (const r of rows) console.log(`| ${r.flood} | ${r.pongs} | ${f2(r.pongP50)} | ${f2(r.pongP99)} | ${f2(r.pongMax)} | ${tally(r.replies)} |`);
    return rows;
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const pinned = pinSelf(1);
  const loadBefore = load();
  console.log(`hooks benchmark; ${machine()}${pinned ? '; servers on CPU 0, clients and backend on CPU 1' : ''}`);
  console.log(`before: ${loadBefore}`);
  const backend = await HookBackend.start(0);
  backend.behaviour.answer = (call) => {
    if (call.path === '/connect') return { allow: true, sub: 'bench', grants: GRANTS };
    if (call.path === '/connect-expiring' || call.path === '/refresh') return { allow: true, sub: 'bench', grants: GRANTS, expireInSec: 1 };
    return { allow: true };
  };
  backend.behaviour.delayMs = (call) => (call.path === '/slow' ? 2_000 : 0);
  const key = new TextEncoder().encode(SECRET);
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const tokens = await Promise.all(Array.from({ length: 256 }, (_, i) => new SignJWT({ sub: `user${i}`, exp, sluice: GRANTS }).setProtectedHeader({ alg: 'HS256', kid: 'k' }).sign(key)));
  try {
    const first = await sideBySide(backend, tokens);
    let saturated;
    try {
      saturated = await saturation(backend, first.servers.off, first.servers.publish);
    } finally {
      await first.stop();
    }
    const refreshed = await refresh(backend);
    const bystanders = await slowBackend(backend);
    const loadAfter = load();
    console.log(`\nafter: ${loadAfter}`);
    if (args.out !== undefined) {
      mkdirSync(args.out, { recursive: true });
      const file = join(args.out, `hooks-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
      const settings = { ROUNDS, WINDOW_MS, SAMPLES, SATURATE_MS, IDLE, REFRESH_MS, BYSTANDER_MS, FLOOD_RATE };
      writeFileSync(file, JSON.stringify({ machine: machine(), loadBefore, loadAfter, settings, sideBySide: first.table, saturation: saturated, refresh: refreshed, bystander: bystanders }, null, 2));
      console.log(`report: ${file}`);
    }
  } finally {
    await backend.close();
  }
}

await main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
