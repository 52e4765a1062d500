import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * CPU time and resident set of a process, read from Linux's /proc. The one place that parses
 * /proc/<pid>/stat: utime and stime count clock ticks, whose rate is read once (`getconf CLK_TCK`),
 * falling back to 100 Hz.
 */
export interface ProcReading {
  /** User + system CPU time since the process started, in seconds. */
  readonly cpuSeconds: number;
  /** The system part of cpuSeconds (the kernel working for the process: syscalls, and the loopback peer's receive it runs). */
  readonly systemSeconds: number;
  readonly rssBytes: number;
  /** The nice value (its main thread's, for a process): 0 normal, up to 19 the lowest priority. */
  readonly nice: number;
}

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** Reads a process's CPU time and resident set (or one thread's, given its `tid`); undefined when it is gone (or not Linux). */
export function readProc(pid: number, tid?: number): ProcReading | undefined {
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    // Fields after the parenthesised command name (which may hold spaces): utime is field 14, stime 15, nice 19.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const systemSeconds = Number(fields[12]) / ticksPerSecond();
    const cpuSeconds = Number(fields[11]) / ticksPerSecond() + systemSeconds;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /VmRSS:\s+(\d+) kB/.exec(status);
    return { cpuSeconds, systemSeconds, rssBytes: rss ? Number(rss[1]) * 1024 : 0, nice: Number(fields[16]) };
  } catch {
    return undefined;
  }
}

/** Like readProc, for a process that must still be running (a measurement cannot go on without it). */
export function mustReadProc(pid: number, tid?: number): ProcReading {
  const reading = readProc(pid, tid);
  if (reading === undefined) throw new Error(`cannot read /proc/${pid} (process gone, or not Linux)`);
  return reading;
}

/** CPU time of this process, all threads included (the load generator's own cost). */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
