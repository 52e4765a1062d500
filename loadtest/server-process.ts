import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface ServerProcess {
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  /** Script to run under `node --import tsx` (TypeScript) or plain node (.js), relative to the repo root. */
  readonly script: string;
  readonly args: string[];
  /** Pass `--port N`; otherwise the port goes in the PORT environment variable. */
  readonly portFlag: boolean;
  /** CPU to pin the server to with taskset, when taskset exists. */
  readonly cpu?: number;
  readonly extraNodeArgs?: string[];
  readonly env?: Record<string, string>;
  /** Called with the server's stderr lines (it is otherwise discarded). */
  readonly onStderr?: (line: string) => void;
}

/** A free TCP port on 127.0.0.1 (the tiny race until the server binds it is acceptable for a load tool). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

let tasksetChecked: boolean | undefined;
export function hasTaskset(): boolean {
  tasksetChecked ??= spawnSync('taskset', ['-V']).status === 0;
  return tasksetChecked;
}

/** Pins every thread of this process to one CPU (call before starting worker threads). */
export function pinSelf(cpu: number): boolean {
  if (!hasTaskset()) return false;
  return spawnSync('taskset', ['-a', '-pc', String(cpu), String(process.pid)]).status === 0;
}

/** Starts a server as a child process, pinned when possible, and waits until its port accepts connections. */
export async function spawnServer(o: SpawnOptions, readyTimeoutMs = 30_000): Promise<ServerProcess> {
  const port = await freePort();
  const nodeArgs = [...(o.extraNodeArgs ?? []), ...(o.script.endsWith('.ts') ? ['--import', 'tsx'] : []), o.script, ...o.args, ...(o.portFlag ? ['--port', String(port)] : [])];
  const pinned = o.cpu !== undefined && hasTaskset();
  const child: ChildProcess = pinned
    ? spawn('taskset', ['-c', String(o.cpu), process.execPath, ...nodeArgs], { cwd: REPO_ROOT, env: { ...process.env, ...o.env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] })
    : spawn(process.execPath, nodeArgs, { cwd: REPO_ROOT, env: { ...process.env, ...o.env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
    if (o.onStderr) for (const line of chunk.split('\n')) if (line.trim() !== '') o.onStderr(line);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + readyTimeoutMs;
  while (!(await canConnect(port))) {
    if (gone) throw new Error(`server exited before listening: ${stderr.trim().split('\n').slice(-5).join(' | ')}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not listen on ${port} within ${readyTimeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    pid: child.pid!,
    port,
    url: `ws://127.0.0.1:${port}/`,
    async stop(graceMs = 3000) {
      if (gone) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** The Sluice CLI, run from source through tsx so a stale dist/ can never be measured by mistake. */
export const SLUICE_CLI = 'src/cli.ts';
