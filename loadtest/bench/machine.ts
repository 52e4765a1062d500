import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { ROOT, hasTaskset } from '../../devkit/process.js';
import { tcpBuffersLine } from '../../devkit/kernel-net.js';
import { uwsPackage } from '../../src/transport/uws-loader.js';

/** The machine and software a benchmark ran on, printed with every result. */
export interface MachineInfo {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly packages: Record<string, string>;
  readonly commit: string;
  readonly pinned: boolean;
  readonly loadAverage: string;
  /** The kernel's TCP buffer maxima the run saw (see devkit/kernel-net.ts, `--tcp-wmem-max`). */
  readonly tcpBuffers: string;
  /** `SLUICE_*` variables of the bench's environment: every gateway it starts inherits them. */
  readonly gatewayEnv: string[];
}

function version(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(`${ROOT}node_modules/${pkg}/package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

/** The uWebSockets.js the gateway and the raw baseline load (the loader's choice, found without loading it). */
function uwsLine(): string {
  const found = uwsPackage();
  return found === undefined ? 'not installed' : `${found.packageName}@${found.version} (${found.source})`;
}

export function machineInfo(): MachineInfo {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  const sluice = (JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string }).version;
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    packages: { sluice, ws: version('ws'), uWebSockets: uwsLine(), 'socket.io': version('socket.io') },
    commit,
    pinned: hasTaskset() && cpus().length >= 2,
    loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    tcpBuffers: tcpBuffersLine(),
    gatewayEnv: Object.entries(process.env)
      .filter(([name]) => name.startsWith('SLUICE_'))
      .map(([name, value]) => `${name}=${value ?? ''}`)
      .sort(),
  };
}

export function machineMarkdown(m: MachineInfo): string {
  return [
    `- CPU: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; Linux ${m.kernel}; load average at start ${m.loadAverage}`,
    `- Node ${m.node}; ${Object.entries(m.packages).map(([k, v]) => `${k} ${v}`).join(', ')}; commit ${m.commit}`,
    `- ${m.pinned ? 'Server pinned to CPU 0, generator to CPU 1 (taskset)' : 'Not pinned (no taskset or a single core)'}`,
    `- ${m.tcpBuffers}`,
    ...(m.gatewayEnv.length === 0 ? [] : [`- Gateway settings from the environment (every Sluice gateway of the run): ${m.gatewayEnv.map((e) => `\`${e}\``).join(', ')}`]),
  ].join('\n');
}
