/**
 * The cost of auth at connect: completed connections per second (upgrade → `hello` received) and
 * server CPU per connection, without auth and with a JWT of each algorithm, measured side by side
 * in one bounded run. One server process per mode (pinned to CPU 0 when taskset exists), the
 * client here (pinned to CPU 1); modes alternate round by round so drift hits all alike.
 *
 *   npx tsx loadtest/experiments/auth-connect.ts            # 3 rounds × 2 s per mode
 *   ROUNDS=5 WINDOW_MS=3000 SLOTS=64 npx tsx loadtest/experiments/auth-connect.ts
 *
 * Loopback only. Bounded: ROUNDS × modes × WINDOW_MS, each connection closed before the next.
 */
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import WebSocket from 'ws';
import { mustReadProc } from '../../devkit/proc.js';
import { ONE_ADDRESS, pinSelf, spawnServer, SLUICE_CLI, type ServerProcess } from '../../devkit/process.js';
import { machine } from './transport-probe.js';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const WINDOW_MS = Number(process.env.WINDOW_MS ?? 2000);
const SLOTS = Number(process.env.SLOTS ?? 32);
/** Distinct tokens per mode, cycled: the server never sees the same token twice in a row. */
const TOKENS = 256;
/** Source addresses rotated so that TIME_WAIT sockets never exhaust the ephemeral ports. */
const SOURCES = Array.from({ length: 32 }, (_, i) => `127.0.0.${i + 2}`);

type Mode = 'open' | 'HS256' | 'RS256' | 'ES256' | 'EdDSA';
const MODES: Mode[] = ['open', 'HS256', 'RS256', 'ES256', 'EdDSA'];
const SECRET = 'loadtest-secret-of-at-least-32-bytes!!';

interface Setup {
  readonly mode: Mode;
  readonly server: ServerProcess;
  readonly tokens: string[];
  connects: number;
  failures: number;
  cpuMs: number;
  elapsedMs: number;
}

async function keysFor(mode: Mode): Promise<{ config: unknown[]; sign: (sub: string) => Promise<string> }> {
  const exp = Math.floor(Date.now() / 1000) + 3600;
  if (mode === 'open') return { config: [], sign: async () => '' };
  if (mode === 'HS256') {
    const key = new TextEncoder().encode(SECRET);
    return { config: [{ kid: 'k', alg: 'HS256', secret: SECRET }], sign: (sub) => new SignJWT({ sub, exp }).setProtectedHeader({ alg: 'HS256', kid: 'k' }).sign(key) };
  }
  const { publicKey, privateKey } = await generateKeyPair(mode, { extractable: true });
  return {
    config: [{ kid: 'k', alg: mode, publicKey: await exportSPKI(publicKey) }],
    sign: (sub) => new SignJWT({ sub, exp, sluice: { sub: ['chat.*'] } }).setProtectedHeader({ alg: mode, kid: 'k' }).sign(privateKey),
  };
}

/** utime + stime of a process, in ms. */
function cpuMsOf(pid: number): number {
  return mustReadProc(pid).cpuSeconds * 1000;
}

/** Opens connections on `SLOTS` slots for `WINDOW_MS`, each closed once its `hello` arrives. */
async function measure(setup: Setup): Promise<void> {
  const cpuBefore = cpuMsOf(setup.server.pid);
  const start = performance.now();
  const until = start + WINDOW_MS;
  let n = 0;
  const slot = async (): Promise<void> => {
    while (performance.now() < until) {
      const i = n++;
      const token = setup.tokens[i % setup.tokens.length]!;
      const ok = await new Promise<boolean>((resolve) => {
        const ws = new WebSocket(setup.server.url, {
          localAddress: SOURCES[i % SOURCES.length],
          headers: token === '' ? {} : { Authorization: `Bearer ${token}` },
          perMessageDeflate: false,
        });
        ws.once('message', () => {
          ws.terminate();
          resolve(true);
        });
        ws.once('error', () => resolve(false));
        ws.once('unexpected-response', () => {
          ws.terminate();
          resolve(false);
        });
      });
      if (ok) setup.connects++;
      else setup.failures++;
    }
  };
  await Promise.all(Array.from({ length: SLOTS }, slot));
  setup.elapsedMs += performance.now() - start;
  setup.cpuMs += cpuMsOf(setup.server.pid) - cpuBefore;
}

async function main(): Promise<void> {
  const pinned = pinSelf(1);
  console.log(`auth-connect: ${MODES.join(', ')}; ${ROUNDS} rounds × ${WINDOW_MS} ms per mode, ${SLOTS} concurrent connects; ${machine()}${pinned ? '; server on CPU 0, client on CPU 1' : ''}`);
  const setups: Setup[] = [];
  try {
    for (const mode of MODES) {
      const keys = await keysFor(mode);
      const tokens = await Promise.all(Array.from({ length: mode === 'open' ? 1 : TOKENS }, (_, i) => keys.sign(`user${i}`)));
      const args = ['--log.level', 'silent', '--log.healthSummaryIntervalMs', '0', '--host', '127.0.0.1', ...ONE_ADDRESS];
      if (mode !== 'open') args.push('--auth.keys', JSON.stringify(keys.config));
      const server = await spawnServer({ script: SLUICE_CLI, args, portFlag: true, cpu: 0 });
      setups.push({ mode, server, tokens, connects: 0, failures: 0, cpuMs: 0, elapsedMs: 0 });
    }
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order each round so no mode always runs first or last.
      for (let k = 0; k < setups.length; k++) await measure(setups[(k + round) % setups.length]!);
    }
  } finally {
    await Promise.all(setups.map((s) => s.server.stop()));
  }
  const base = setups[0]!;
  const rate = (s: Setup) => (s.connects * 1000) / s.elapsedMs;
  const cpuPer = (s: Setup) => (s.cpuMs * 1000) / Math.max(1, s.connects);
  console.log('\n| mode | connects/s | vs open | server CPU µs/connect | vs open | failures |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const s of setups) {
    console.log(
      `| ${s.mode} | ${rate(s).toFixed(0)} | ${(rate(s) / rate(base)).toFixed(2)} | ${cpuPer(s).toFixed(0)} | ${(cpuPer(s) / cpuPer(base)).toFixed(2)} | ${s.failures} |`,
    );
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
