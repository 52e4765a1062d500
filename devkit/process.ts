import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { until } from './until.js';

/** The repository root: child processes run there, scripts are named relative to it. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The Sluice CLI, run from source through tsx so a stale dist/ is never measured or tested by mistake. */
export const SLUICE_CLI = 'src/cli.ts';

/**
 * Gateway flags for a load run whose clients all connect from 127.0.0.1: lifts the per-IP
 * connection limit (`admission.maxConnectionsPerIp`, 1,000 by default), which would otherwise
 * refuse the 1,001st subscriber. The adversary suite keeps the default: it is one of its defences.
 */
export const ONE_ADDRESS = ['--admission.maxConnectionsPerIp', '0'];

/**
 * The Node flags the gateway is shipped with (`npm start`, the Docker image's CMD; a drift test keeps
 * them in step): a 4 MiB young generation bounds each scavenge's pause and the garbage a flood leaves
 * behind (docs/operations.md, "Garbage collection"). Gateways started from here run with them too, so
 * what the bench and the adversary suite measure is what is shipped; a caller's own `nodeArgs` come
 * after them and win.
 */
export const GATEWAY_NODE_FLAGS = ['--max-semi-space-size=4'];

/** Kept output is bounded to its last this many characters, so a long run cannot grow it without end. */
const KEPT_CHARS = 1 << 20;

/** Children still running; whatever ends this process (a guard's process.exit, a crash) kills them too, so none is orphaned. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Registers a child this process started, to be killed if this process exits first. */
export function killOnExit(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  running.add(child);
  child.once('exit', () => running.delete(child));
}

export interface NodeRunOptions {
  /** Script relative to the repository root: `.ts` runs under tsx, anything else under plain node. */
  readonly script: string;
  readonly args?: string[];
  readonly env?: Record<string, string>;
  /** Node options placed before the script (e.g. `--cpu-prof`). */
  readonly nodeArgs?: string[];
  /** CPU to pin the process to with taskset, when taskset exists. */
  readonly cpu?: number;
  /** Keep stdout in `stdout` (default) or discard it (a load server's logs are not read). */
  readonly stdout?: 'keep' | 'ignore';
  /** Called with each stderr line as it arrives (stderr is kept in `stderr` too). */
  readonly onStderr?: (line: string) => void;
}

export interface NodeRun {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout: string;
  stderr: string;
  /** Resolves with the exit code (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Runs a Node script of this repository as a child process. */
export function runNode(o: NodeRunOptions): NodeRun {
  const nodeArgs = [...(o.script.endsWith(SLUICE_CLI) ? GATEWAY_NODE_FLAGS : []), ...(o.nodeArgs ?? []), ...(o.script.endsWith('.ts') ? ['--import', 'tsx'] : []), o.script, ...(o.args ?? [])];
  const options = { cwd: ROOT, env: { ...process.env, ...o.env }, stdio: ['ignore', o.stdout === 'ignore' ? 'ignore' : 'pipe', 'pipe'] as ('ignore' | 'pipe')[] };
  const child = o.cpu !== undefined && hasTaskset() ? spawn('taskset', ['-c', String(o.cpu), process.execPath, ...nodeArgs], options) : spawn(process.execPath, nodeArgs, options);
  killOnExit(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const run: NodeRun = {
    child,
    pid: child.pid!,
    stdout: '',
    stderr: '',
    exited,
    async stop(graceMs = 3000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  child.stdout?.on('data', (d: Buffer) => (run.stdout = (run.stdout + d.toString()).slice(-KEPT_CHARS)));
  child.stderr!.on('data', (d: Buffer) => {
    const chunk = d.toString();
    run.stderr = (run.stderr + chunk).slice(-KEPT_CHARS);
    if (o.onStderr) for (const line of chunk.split('\n')) if (line.trim() !== '') o.onStderr(line);
  });
  return run;
}

/** Runs the gateway CLI from source with the given arguments and environment. */
export function runCli(args: string[], env: Record<string, string> = {}): NodeRun {
  return runNode({ script: SLUICE_CLI, args, env });
}

/** Waits for a JSON log line with the given msg on the run's stdout and returns it. */
export function waitForLog(run: NodeRun, msg: string, timeoutMs = 20_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${msg}" log line; stdout: ${run.stdout} stderr: ${run.stderr}`)), timeoutMs);
    const check = () => {
      for (const line of run.stdout.split('\n')) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg === msg) {
          clearTimeout(timer);
          run.child.stdout!.off('data', check);
          resolve(entry);
          return;
        }
      }
    };
    run.child.stdout!.on('data', check);
    check();
  });
}

export interface ServerProcess extends NodeRun {
  readonly port: number;
  readonly url: string;
  readonly httpUrl: string;
}

export interface ServerOptions extends NodeRunOptions {
  /** Pass `--port N`; otherwise the port goes in the PORT environment variable. */
  readonly portFlag: boolean;
}

/** Starts a server on a free loopback port as a child process and waits until the port accepts connections. */
export async function spawnServer(o: ServerOptions, readyTimeoutMs = 30_000): Promise<ServerProcess> {
  const port = await freePort();
  const run = runNode({ ...o, stdout: o.stdout ?? 'ignore', args: [...(o.args ?? []), ...(o.portFlag ? ['--port', String(port)] : [])], env: { ...o.env, PORT: String(port) } });
  let gone = false;
  void run.exited.then(() => (gone = true));
  try {
    await until(async () => {
      if (gone) throw new Error(`server exited before listening: ${run.stderr.trim().split('\n').slice(-5).join(' | ')}`);
      return canConnect(port);
    }, `the server to listen on ${port}`, readyTimeoutMs, 100);
  } catch (err) {
    run.child.kill('SIGKILL');
    throw err;
  }
  return Object.assign(run, { port, url: `ws://127.0.0.1:${port}/`, httpUrl: `http://127.0.0.1:${port}` });
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
