/**
 * The kernel's side of a run, second by second (transport-cost.ts, KERNEL=1): how the gateway's core
 * spends its time (user, system and softirq from /proc/stat: on loopback the receivers' TCP receive
 * runs in softirq on the sender's core, so the subscribers' kernel work shows on the gateway's), the
 * share other processes took of that core (a shared machine: a second they took is a second the
 * gateway fell behind), the gateway's own user and system time (/proc/<pid>/stat: its system time
 * includes the softirq it runs), the bytes it handed to the kernel (/proc/<pid>/io wchar) and its
 * system time per MiB of them, TCP segments sent, the receive-queue pruning and collapsing, memory
 * pressure and zero-window counters (/proc/net/netstat TcpExt), and the TCP memory in use
 * (/proc/net/sockstat). Counters and TCP memory are the whole network namespace's.
 */
import { readFileSync } from 'node:fs';
import { readProc } from '../../devkit/proc.js';
import type { RunResult } from '../tool/runner.js';

/** TcpExt counters worth a column: receive-queue pruning and collapsing, memory pressure, zero windows. */
const TCP_EXT = ['PruneCalled', 'RcvPruned', 'TCPRcvCollapsed', 'TCPRcvQDrop', 'TCPMemoryPressures', 'TCPZeroWindowDrop', 'TCPToZeroWindowAdv', 'TCPWantZeroWindowAdv'] as const;

export interface KernelReading {
  readonly at: number;
  /** The core's jiffies by kind (/proc/stat cpuN: user, nice, system, idle, iowait, irq, softirq). */
  readonly core: { user: number; system: number; softirq: number; idle: number; total: number };
  readonly gatewayUser: number;
  readonly gatewaySystem: number;
  /** Bytes the gateway handed to write-like syscalls (/proc/<pid>/io wchar: sockets included). */
  readonly gatewayWritten: number;
  readonly outSegs: number;
  readonly ext: Record<(typeof TCP_EXT)[number], number>;
  readonly tcpMemPages: number;
}

function table(file: string, prefix: string): Record<string, number> {
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith(prefix));
  const names = lines[0]!.split(/\s+/).slice(1);
  const values = lines[1]!.split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, i) => [n, values[i]!]));
}

/** One reading of the core `cpu` and the gateway `pid`. */
export function readKernel(cpu: number, pid: number): KernelReading | undefined {
  const proc = readProc(pid);
  if (proc === undefined) return undefined;
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `))!;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number) as number[];
  const ext = table('/proc/net/netstat', 'TcpExt:');
  const sockstat = /TCP: .* mem (\d+)/.exec(readFileSync('/proc/net/sockstat', 'utf8'));
  return {
    at: Date.now(),
    core: { user: user! + nice!, system: system!, softirq: softirq!, idle: idle! + iowait!, total: user! + nice! + system! + idle! + iowait! + irq! + softirq! + steal! },
    gatewayUser: proc.cpuSeconds - proc.systemSeconds,
    gatewaySystem: proc.systemSeconds,
    gatewayWritten: Number(/wchar: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0),
    outSegs: table('/proc/net/snmp', 'Tcp:').OutSegs ?? 0,
    ext: Object.fromEntries(TCP_EXT.map((k) => [k, ext[k] ?? 0])) as KernelReading['ext'],
    tcpMemPages: sockstat ? Number(sockstat[1]) : 0,
  };
}

/** Reads every `everyMs` until stopped. */
export function sampleKernel(cpu: number, pid: number, everyMs = 250): { readings: KernelReading[]; stop: () => void } {
  const readings: KernelReading[] = [];
  const take = (): void => {
    const r = readKernel(cpu, pid);
    if (r) readings.push(r);
  };
  take();
  const timer = setInterval(take, everyMs);
  return { readings, stop: () => (clearInterval(timer), take()) };
}

const pct = (part: number, total: number): string => (total > 0 ? ((100 * part) / total).toFixed(0) : '–');

/** One row per timeline second: the core's user/system/softirq shares, the gateway's user and system CPU, segments, TcpExt deltas, TCP memory. */
export function kernelTable(r: RunResult, readings: KernelReading[]): string {
  const head = `t s | core usr% | core sys% | core softirq% | core idle% | others% | gw usr s | gw sys s | written MiB/s | gw sys ms/MiB | segs/s | ${TCP_EXT.join(' | ')} | tcp mem MiB`;
  const rows = [head, head.replace(/[^|]/g, '-')];
  let from = r.startedAt - r.warmupMs;
  for (const p of r.timeline) {
    const to = r.startedAt + p.t * 1000;
    const a = [...readings].reverse().find((x) => x.at <= from) ?? readings[0];
    const b = [...readings].reverse().find((x) => x.at <= to);
    if (a && b && b.at > a.at) {
      const total = b.core.total - a.core.total;
      const secs = (b.at - a.at) / 1000;
      rows.push(
        [
          `${p.t.toFixed(1)}${p.warm ? ' warm' : ''}`,
          pct(b.core.user - a.core.user, total), pct(b.core.system - a.core.system, total), pct(b.core.softirq - a.core.softirq, total), pct(b.core.idle - a.core.idle, total),
          // The core's busy share less the gateway's own CPU: other processes on its core (a shared machine).
          Math.max(0, 100 * (1 - (b.core.idle - a.core.idle) / total) - (100 * (b.gatewayUser + b.gatewaySystem - a.gatewayUser - a.gatewaySystem)) / secs).toFixed(0),
          // /proc splits a process's time into user and system by sampled ticks: either part may step back a little; the sum does not.
          Math.max(0, (b.gatewayUser - a.gatewayUser) / secs).toFixed(2), Math.max(0, (b.gatewaySystem - a.gatewaySystem) / secs).toFixed(2),
          ((b.gatewayWritten - a.gatewayWritten) / 2 ** 20 / secs).toFixed(0),
          b.gatewayWritten - a.gatewayWritten >= 2 ** 20 ? (((b.gatewaySystem - a.gatewaySystem) * 1000) / ((b.gatewayWritten - a.gatewayWritten) / 2 ** 20)).toFixed(2) : '–',
          ((b.outSegs - a.outSegs) / secs).toFixed(0),
          ...TCP_EXT.map((k) => ((b.ext[k] - a.ext[k]) / secs).toFixed(0)),
          ((b.tcpMemPages * 4096) / 2 ** 20).toFixed(0),
        ].join(' | '),
      );
    }
    from = to;
  }
  return rows.join('\n');
}
