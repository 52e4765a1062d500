import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { freePort } from './ports.js';
import { killOnExit } from './process.js';
import { Redis } from 'ioredis';

/**
 * A Redis for tests and load scripts: its own `redis-server` on a free loopback port (no persistence), or, when
 * the binary is missing, the one at SLUICE_TEST_REDIS_URL. Neither: the test fails (never skips).
 */
export interface TestRedis {
  readonly url: string;
  readonly port: number;
  /** A plain client for inspecting or poking Redis (INFO, CLIENT KILL, FLUSHALL…). */
  client(): Redis;
  /** SIGKILL the server (its data is lost: no persistence) and wait until it is gone. */
  kill(): Promise<void>;
  /** Start the server again on the same port; resolves once it answers PING. */
  restart(): Promise<void>;
  /** SIGSTOP the server: it keeps its connections but answers nothing (a hung Redis). */
  freeze(): void;
  /** SIGCONT after `freeze`: it answers everything it received meanwhile. */
  thaw(): void;
  stop(): Promise<void>;
}

export function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

export async function startRedis(): Promise<TestRedis> {
  if (!hasRedisServer()) {
    const url = process.env.SLUICE_TEST_REDIS_URL;
    if (!url) throw new Error('Redis tests need redis-server on PATH (apt-get install redis-server) or SLUICE_TEST_REDIS_URL');
    return external(url);
  }
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      return await own(port);
    } catch (err) {
      lastError = err; // the port was taken between probing and binding: try another
    }
  }
  throw lastError;
}

async function own(port: number): Promise<TestRedis> {
  let child = await launch(port);
  const clients: Redis[] = [];
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    client() {
      const c = new Redis({ port, host: '127.0.0.1', lazyConnect: false, maxRetriesPerRequest: 1 });
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
    async kill() {
      child.kill('SIGKILL');
      await exited(child);
    },
    async restart() {
      child = await launch(port);
    },
    freeze() {
      child.kill('SIGSTOP');
    },
    thaw() {
      child.kill('SIGCONT');
    },
    async stop() {
      for (const c of clients) c.disconnect();
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited(child);
    },
  };
}

/**
 * Starts `redis-server` on a loopback port without persistence, with `extra` arguments (a config
 * file, when given, comes first); resolves once it answers PING on `port`.
 */
export async function launch(port: number, extra: string[] = [], configFile?: string): Promise<ChildProcess> {
  const args = [...(configFile ? [configFile] : []), '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning', ...extra];
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  killOnExit(child);
  const failed = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`redis-server on port ${port} exited with ${code}`))));
  failed.catch(() => {});
  await Promise.race([waitForPing(port, 10_000), failed]);
  return child;
}

/** Resolves once the child has exited (at once if it already has). */
export function exited(c: ChildProcess): Promise<void> {
  return c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r()));
}

function external(url: string): TestRedis {
  const clients: Redis[] = [];
  const unsupported = (): Promise<void> => Promise.reject(new Error('killing Redis needs redis-server on PATH (SLUICE_TEST_REDIS_URL cannot be restarted)'));
  return {
    url,
    port: Number(new URL(url).port || 6379),
    client() {
      const c = new Redis(url, { maxRetriesPerRequest: 1 });
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
    kill: unsupported,
    restart: unsupported,
    freeze() {
      throw new Error('freezing Redis needs redis-server on PATH');
    },
    thaw() {
      throw new Error('freezing Redis needs redis-server on PATH');
    },
    async stop() {
      for (const c of clients) c.disconnect();
    },
  };
}


/** Resolves once the server answers PING (retrying refused connections until the deadline). */
export function waitForPing(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const socket = connect(port, '127.0.0.1');
      let answer = '';
      socket.once('connect', () => socket.write('PING\r\n'));
      socket.on('data', (d) => {
        answer += d.toString();
        if (answer.includes('+PONG')) {
          socket.destroy();
          resolve();
        }
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`redis-server on port ${port} did not answer PING`));
        else setTimeout(attempt, 25);
      });
    };
    attempt();
  });
}
