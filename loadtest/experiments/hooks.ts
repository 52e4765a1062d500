/**
 * The cost of hooks, side by side in one bounded run against a local backend (in this process,
 * answering at once): connects per second (upgrade → `hello`), subscribe latency (sub → ack) and
 * publish latency (pub → ack) with hooks off and with each of connect, subscribe and publish on;
 * then a bystander's pong latency while a flood of publications meets a publish hook whose backend
 * takes 2 s against a 200 ms timeout, beside the same flood with no hook.
 *
 *   npx tsx loadtest/experiments/hooks.ts                 # 3 rounds per mode
 *   ROUNDS=5 WINDOW_MS=3000 npx tsx loadtest/experiments/hooks.ts
 *
 * Loopback only. Bounded: ROUNDS × modes × (WINDOW_MS + SAMPLES round trips), then 2 × SLOW_MS.
 * One server process per mode (pinned to CPU 0 when taskset exists), clients and backend here.
 */
import WebSocket from 'ws';
import { HookBackend } from '../../devkit/hook-backend.js';
import { pinSelf, spawnServer, SLUICE_CLI, type ServerProcess } from '../../devkit/process.js';
import { machine } from './transport-probe.js';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const WINDOW_MS = Number(process.env.WINDOW_MS ?? 2000);
const SLOTS = Number(process.env.SLOTS ?? 16);
const SAMPLES = Number(process.env.SAMPLES ?? 1000);
const SLOW_MS = Number(process.env.SLOW_MS ?? 5000);
const FLOODERS = 8;
const FLOOD_IN_FLIGHT = 16;
const SOURCES = Array.from({ length: 32 }, (_, i) => `127.0.0.${i + 2}`);

type Mode = 'off' | 'connect' | 'subscribe' | 'publish';
const MODES: Mode[] = ['off', 'connect', 'subscribe', 'publish'];

interface Setup {
  readonly mode: Mode;
  readonly server: ServerProcess;
  connects: number;
  elapsedMs: number;
  readonly subMs: number[];
  readonly pubMs: number[];
}

const BASE_FLAGS = ['--log.level', 'silent', '--log.healthSummaryIntervalMs', '0', '--host', '127.0.0.1', '--inbound.messagesPerSecond', '1000000', '--inbound.messagesBurst', '1000000'];

function hookFlags(mode: Mode, backend: HookBackend): string[] {
  if (mode === 'off') return [];
  return [`--hooks.${mode}.url`, backend.url(`/${mode}`), `--hooks.${mode}.maxConcurrent`, '256'];
}

/** A connected client that matches replies to requests by id. */
class Client {
  private nextId = 1;
  private readonly pending = new Map<number, (frame: Record<string, unknown>) => void>();
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Record<string, unknown>;
      const done = typeof frame.id === 'number' ? this.pending.get(frame.id) : undefined;
      if (done !== undefined) {
        this.pending.delete(frame.id as number);
        done(frame);
      }
    });
  }

  static open(url: string): Promise<Client> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    return new Promise((resolve, reject) => {
      ws.once('message', () => resolve(new Client(ws)));
      ws.once('error', reject);
    });
  }

  request(frame: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.ws.send(JSON.stringify({ ...frame, id }));
    });
  }
}

async function connects(setup: Setup): Promise<void> {
  const until = performance.now() + WINDOW_MS;
  const start = performance.now();
  let n = 0;
  const slot = async (): Promise<void> => {
    while (performance.now() < until) {
      const i = n++;
      const ok = await new Promise<boolean>((resolve) => {
        const ws = new WebSocket(setup.server.url, { localAddress: SOURCES[i % SOURCES.length], perMessageDeflate: false });
        ws.once('message', () => {
          ws.terminate();
          resolve(true);
        });
        ws.once('error', () => resolve(false));
        ws.once('unexpected-response', () => resolve(false));
      });
      if (ok) setup.connects++;
    }
  };
  await Promise.all(Array.from({ length: SLOTS }, slot));
  setup.elapsedMs += performance.now() - start;
}

async function latencies(setup: Setup): Promise<void> {
  const subscriber = await Client.open(setup.server.url);
  const publisher = await Client.open(setup.server.url);
  await subscriber.request({ op: 'sub', ch: 'bench' });
  for (let i = 0; i < SAMPLES; i++) {
    const t = performance.now();
    const reply = await publisher.request({ op: 'pub', ch: 'bench', data: { i, text: 'hello' } });
    if (reply.ev === 'ack') setup.pubMs.push(performance.now() - t);
  }
  for (let i = 0; i < SAMPLES / 4; i++) {
    const ch = `room.${i}`;
    const t = performance.now();
    const reply = await subscriber.request({ op: 'sub', ch });
    if (reply.ev === 'ack') setup.subMs.push(performance.now() - t);
    await subscriber.request({ op: 'unsub', ch });
  }
  subscriber.ws.terminate();
  publisher.ws.terminate();
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A bystander's ping round trips while FLOODERS keep FLOOD_IN_FLIGHT publications each in flight on `ch`. */
async function bystander(server: ServerProcess, ch: string): Promise<{ pongMs: number[]; replies: Record<string, number> }> {
  const flooders = await Promise.all(Array.from({ length: FLOODERS }, () => Client.open(server.url)));
  const watcher = await Client.open(server.url);
  const replies: Record<string, number> = {};
  const until = performance.now() + SLOW_MS;
  const flood = async (c: Client): Promise<void> => {
    while (performance.now() < until) {
      const reply = await c.request({ op: 'pub', ch, data: 'x' });
      const key = reply.ev === 'ack' ? 'ack' : String(reply.code);
      replies[key] = (replies[key] ?? 0) + 1;
    }
  };
  const floods = flooders.flatMap((c) => Array.from({ length: FLOOD_IN_FLIGHT }, () => flood(c)));
  const pongMs: number[] = [];
  while (performance.now() < until) {
    const t = performance.now();
    await watcher.request({ op: 'ping' });
    pongMs.push(performance.now() - t);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await Promise.all(floods);
  for (const c of [...flooders, watcher]) c.ws.terminate();
  return { pongMs, replies };
}

async function main(): Promise<void> {
  const pinned = pinSelf(1);
  console.log(`hooks: ${MODES.join(', ')}; ${ROUNDS} rounds × (${WINDOW_MS} ms of connects + ${SAMPLES} publishes + ${SAMPLES / 4} subscribes) per mode; ${machine()}${pinned ? '; server on CPU 0, clients and backend on CPU 1' : ''}`);
  const backend = await HookBackend.start(0);
  // Namespace permissions apply to connect-hook identities as to tokens: grant everything.
  backend.behaviour.answer = (call) => (call.path === '/connect' ? { allow: true, sub: 'bench', grants: { sub: ['*'], pub: ['*'] } } : { allow: true });
  const setups: Setup[] = [];
  const slow: ServerProcess[] = [];
  try {
    const servers = await Promise.all(MODES.map((mode) => spawnServer({ script: SLUICE_CLI, args: [...BASE_FLAGS, ...hookFlags(mode, backend)], portFlag: true, cpu: 0 }, 120_000)));
    for (const [i, mode] of MODES.entries()) setups.push({ mode, server: servers[i]!, connects: 0, elapsedMs: 0, subMs: [], pubMs: [] });
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < setups.length; k++) {
        const setup = setups[(k + round) % setups.length]!;
        console.error(`round ${round + 1}: ${setup.mode}: connects`);
        await connects(setup);
        console.error(`round ${round + 1}: ${setup.mode}: latencies`);
        await latencies(setup);
      }
    }
    const rate = (s: Setup) => (s.connects * 1000) / s.elapsedMs;
    const base = setups[0]!;
    console.log('\n| hooks | connects/s | vs off | sub p50 ms | sub p99 ms | pub p50 ms | pub p99 ms | pub p99 vs off |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const s of setups) {
      const f = (v: number) => v.toFixed(2);
      console.log(
        `| ${s.mode} | ${rate(s).toFixed(0)} | ${(rate(s) / rate(base)).toFixed(2)} | ${f(percentile(s.subMs, 50))} | ${f(percentile(s.subMs, 99))} | ${f(percentile(s.pubMs, 50))} | ${f(percentile(s.pubMs, 99))} | ${(percentile(s.pubMs, 99) / percentile(base.pubMs, 99)).toFixed(2)} |`,
      );
    }
    for (const s of setups) await s.server.stop();
    setups.length = 0;

    backend.behaviour.delayMs = (call) => (call.path === '/slow' ? 2_000 : 0);
    const flags = [...BASE_FLAGS, '--hooks.publish.url', backend.url('/slow'), '--hooks.publish.timeoutMs', '200', '--hooks.channels', JSON.stringify([{ pattern: 'free', publish: false }])];
    slow.push(await spawnServer({ script: SLUICE_CLI, args: flags, portFlag: true, cpu: 0 }, 120_000));
    const server = slow[0]!;
    const free = await bystander(server, 'free');
    const hooked = await bystander(server, 'hooked');
    console.log(`\nbystander pong while ${FLOODERS}×${FLOOD_IN_FLIGHT} publications stay in flight (${SLOW_MS} ms each), publish hook backend at 2 s, timeout 200 ms:`);
    console.log('| flood on | pongs | pong p50 ms | pong p99 ms | flood replies |');
    console.log('| --- | ---: | ---: | ---: | --- |');
    for (const [name, r] of [['unhooked channel', free], ['hooked channel (slow backend)', hooked]] as const) {
      console.log(`| ${name} | ${r.pongMs.length} | ${percentile(r.pongMs, 50).toFixed(2)} | ${percentile(r.pongMs, 99).toFixed(2)} | ${JSON.stringify(r.replies)} |`);
    }
  } finally {
    await Promise.all([...setups.map((s) => s.server.stop()), ...slow.map((s) => s.stop())]);
    await backend.close();
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
