/**
 * Gateway CPU per delivery, transports side by side: 1 publisher → 1,000 subscribers, 1 KiB messages
 * at a fixed offered rate, one fresh gateway per transport in turn (pinned to CPU 0, the generator's
 * threads to CPU 1). The figure to read is µs of gateway CPU (user + system, from /proc) per delivery:
 * on a loaded machine the gateway gets a share of its core and delivers less than offered, but what
 * it spends per delivery moves far less than its rate.
 *
 *   npx tsx loadtest/experiments/transport-cost.ts [rate=1800] [seconds=3] [transports=ws,uws] [slowFraction=0] [policy=disconnect] [size=1024]
 *
 * `transports` may also name the bench's raw baselines, `raw-uws` (uWS `app.publish` from the
 * message handler), `raw-uws-per-turn` (each turn's messages published after the read) and `raw-ws`
 * (ws, framed once + corked), so that Sluice and raw run side by side in one invocation; `uws@<dir>`
 * runs the gateway of the checkout at <dir> (before/after, alternated in one invocation). A `+batch`
 * suffix (`ws+batch`, `uws+batch@<dir>`) has the clients offer `sluice.batch`, so that the gateway
 * sends batch frames; the line then says events per frame. BATCH=1 adds it to every Sluice entry.
 *
 * With STRACE=<prefix> it attaches `strace -c -f` (PERF_STAT=<prefix>: `perf stat`, syscalls by kind; PERF_RECORD=<prefix>: `perf record -g`, JS named) to each
 * gateway once its clients are connected, and writes the counts to <prefix>-<name>-<run>.txt; with CPU_PROFILE_DIR set, each gateway writes a V8 CPU profile there. Each gateway's pid is printed first, to attach perf or strace by hand.
 * KEYS=<n> has the publisher cycle through n keys (the bench's conflate rows use 100), so that a conflate channel conflates.
 * KERNEL=1 prints the run second by second from the kernel's side (kernel-probe.ts: the gateway core's user/system/softirq shares, the gateway's user and system CPU, TCP segments, receive-queue pruning and collapsing, TCP memory); PERF_CORE=<prefix> records the gateway's whole core (`perf record -a -g -C 0`, wall-clock stamps, the measured run's start printed) to <prefix>-<name>-<run>.data.
 * PROBE=1 loads gateway-probe.mjs into each gateway and polls its /metrics every second, and prints the run
 * second by second (timeline.ts): the fast subscribers' p50/p99/max, the gateway's longest event-loop delay
 * and collections, its sheds and 4100 closes, the generator's CPU and its threads' own stalls.
 * WARMUP_S=<s> first runs the same load for s seconds with every subscriber reading (the bench's warm-up: the gateway warmed), then the stopped ones stop and the measured run begins.
 * PUBLISHERS_APART=1 gives the publisher a generator thread of its own (see Plan.publishersApart).
 * PUBLISHERS=<n> splits the rate over n publishers on the same channel (a feed of many sources:
 * the same offered rate, several connections' frames in each turn).
 * WINDOW_BYTES=<n> has the subscribers of the Sluice entries ask for a receive window of n bytes (docs/protocol.md, `window`):
 * each counts what it reads and reports it with `recv` every n/2; the stopped ones stop reporting when they stop reading,
 * so the gateway holds their stream at n bytes and its policy acts from there. The raw baselines (`raw-ws`, `raw-uws`,
 * `raw-uws-per-turn`) speak no Sluice protocol and ignore it.
 * TCP_WMEM_MAX=<bytes> runs the whole experiment in a private network namespace whose TCP send buffers grow to at most that (devkit/kernel-net.ts; the host is not touched).
 * Bounded: rate ≤ 5,000 msg/s, ≤ 10 s each, at most 6 runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { pinSelf, spawnServer, SLUICE_CLI } from '../../devkit/process.js';
import { readProc, type ProcReading } from '../../devkit/proc.js';
import { runLoad, steadyCost } from '../tool/runner.js';
import { BASE_KNOBS, OPEN_LIMITS, SCENARIOS } from '../tool/scenarios.js';
import { RAW_UWS_PER_TURN, TARGETS } from '../bench/targets.js';
import { machine } from './transport-probe.js';
import { readServerCounters } from '../tool/server-metrics.js';
import { parseProbe, PROBE_ARGS, timelineTable, type CountersAt, type ProbeLine } from './timeline.js';
import { kernelTable, sampleKernel } from './kernel-probe.js';
import { rerunInNetns, tcpBuffersLine } from '../../devkit/kernel-net.js';

if (process.env.TCP_WMEM_MAX !== undefined) rerunInNetns(Number(process.env.TCP_WMEM_MAX));

const RATE = Math.min(Number(process.argv[2] ?? 1800), 5000);
const SECONDS = Math.min(Number(process.argv[3] ?? 3), 10);
const PUBLISHERS = Math.min(Math.max(1, Number(process.env.PUBLISHERS ?? 1)), 100);
const TRANSPORTS = (process.argv[4] ?? 'ws,uws').split(',').slice(0, 6);
const SLOW = Number(process.argv[5] ?? 0);
const POLICY = process.argv[6] ?? 'disconnect';
const SIZE = Math.min(Number(process.argv[7] ?? 1024), 64 * 1024);
const SUBSCRIBERS = 1000;
const WINDOW_BYTES = Math.max(0, Math.floor(Number(process.env.WINDOW_BYTES ?? 0)));
const RAW: Record<string, string> = { 'raw-uws': 'uws', 'raw-uws-per-turn': RAW_UWS_PER_TURN.id, 'raw-ws': 'ws-framed' };
const BATCH_SUFFIX = '+batch';

/** How to start the gateway, or the raw baseline, named `name` (`transport[+batch][@dir]`: `+batch` offers batch frames, `@dir` the gateway of another checkout, for A/B runs). */
function serverFor(name: string): { script: string; args: string[]; portFlag: boolean; dialect: 'sluice' | 'raw'; batch: boolean } {
  const raw = [...TARGETS, RAW_UWS_PER_TURN].find((t) => t.id === RAW[name]);
  if (raw !== undefined) return { script: raw.script, args: raw.args, portFlag: raw.portFlag, dialect: 'raw', batch: false };
  const [offer, tree] = name.split('@');
  const batch = offer!.endsWith(BATCH_SUFFIX) || process.env.BATCH === '1';
  const transport = offer!.endsWith(BATCH_SUFFIX) ? offer!.slice(0, -BATCH_SUFFIX.length) : offer!;
  const args = ['--transport', transport, '--host', '127.0.0.1', '--log.level', 'warn', '--log.healthSummaryIntervalMs', '0', '--channels', JSON.stringify([{ pattern: 'fanout.*', policy: POLICY }]), ...OPEN_LIMITS];
  return { script: tree === undefined ? SLUICE_CLI : `${tree}/${SLUICE_CLI}`, args, portFlag: true, dialect: 'sluice', batch };
}

/** With STRACE=<prefix>, `strace -c -f`; with PERF_STAT=<prefix>, `perf stat` of syscalls, CPU and context switches (far lighter than strace); with PERF_RECORD=<prefix>, `perf record -g`. */
function tracersFor(name: string, pid: number): ChildProcess[] {
  const { STRACE, PERF_STAT, PERF_RECORD, PERF_CORE } = process.env;
  const tracers: ChildProcess[] = [];
  // The gateway's whole core (its softirq included, where loopback runs the receivers' TCP receive), stamped in wall-clock time so that a second of the timeline can be cut out: perf report --time <from>,<to>.
  if (PERF_CORE) tracers.push(spawn('taskset', ['-c', '1', 'perf', 'record', '-k', 'CLOCK_REALTIME', '-a', ...(process.env.PERF_CORE_G === '0' ? [] : ['-g']), '-C', '0', '-F', '499', '-o', `${PERF_CORE}-${name}.data`], { stdio: 'ignore' }));
  if (PERF_RECORD) tracers.push(spawn('perf', ['record', '-g', '-F', '1999', '-p', String(pid), '-o', `${PERF_RECORD}-${name}.data`], { stdio: 'ignore' }));
  if (STRACE) tracers.push(spawn('strace', ['-c', '-f', '-p', String(pid), '-o', `${STRACE}-${name}.txt`], { stdio: 'ignore' }));
  const events = ['task-clock', 'context-switches', 'raw_syscalls:sys_enter', 'syscalls:sys_enter_sendto', 'syscalls:sys_enter_writev', 'syscalls:sys_enter_write', 'syscalls:sys_enter_epoll_pwait', 'syscalls:sys_enter_recvfrom', 'page-faults', 'syscalls:sys_enter_brk', 'syscalls:sys_enter_mmap', 'syscalls:sys_enter_munmap'];
  if (PERF_STAT) tracers.push(spawn('perf', ['stat', '-e', events.join(','), '-p', String(pid), '-o', `${PERF_STAT}-${name}.txt`], { stdio: 'ignore' }));
  return tracers;
}

/** One event's count from a `perf stat` output file. */
function perfCount(file: string, event: string): number | undefined {
  const line = readFileSync(file, 'utf8').split('\n').find((l) => l.includes(event));
  return line === undefined ? undefined : Number(line.trim().split(/\s+/)[0]!.replace(/,/g, ''));
}

async function main(): Promise<void> {
  const pinned = pinSelf(1);
  console.log(`transport cost: 1 → ${SUBSCRIBERS} × ${SIZE} B at ${RATE} msg/s, ${SLOW * 100}% stopped, policy ${POLICY}, ${SECONDS} s${WINDOW_BYTES > 0 ? `, receive window ${WINDOW_BYTES} B (Sluice entries)` : ''}; ${machine()}${pinned ? '; gateway on CPU 0, generator on CPU 1' : ''}; ${tcpBuffersLine()}`);
  for (const [run, transport] of TRANSPORTS.entries()) {
    const { dialect, batch, ...start } = serverFor(transport);
    const probe = process.env.PROBE === '1';
    const probes: ProbeLine[] = [];
    const server = await spawnServer(
      {
        ...start,
        cpu: 0,
        ...(probe ? { onStderr: (line: string) => void probes.push(...[parseProbe(line)].filter((p) => p !== undefined)) } : {}),
        nodeArgs: [...(probe ? PROBE_ARGS : []), ...(process.env.CPU_PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', `${process.env.CPU_PROFILE_DIR}/${transport}`] : []), ...(process.env.PERF_RECORD ? ['--perf-basic-prof', '--logfile=/dev/null', '--no-logfile-per-isolate'] : [])],
      },
      20_000,
    );
    console.log(`${transport}: gateway pid ${server.pid}`);
    const counters: CountersAt[] = [];
    let kernel: ReturnType<typeof sampleKernel> | undefined;
    const poll = probe && dialect === 'sluice' ? setInterval(() => void readServerCounters(server.httpUrl, 900).then((c) => c && counters.push({ at: Date.now(), c })), 1000) : undefined;
    try {
      const plan = { ...SCENARIOS.fanout!.build({ ...BASE_KNOBS, subscribers: SUBSCRIBERS, publishers: PUBLISHERS, size: SIZE, rate: RATE / PUBLISHERS, slowFraction: SLOW, keys: Number(process.env.KEYS ?? BASE_KNOBS.keys), sampleEvery: Math.max(1, Math.ceil(RATE / 100)) }, 0), publishersApart: process.env.PUBLISHERS_APART === '1' };
      const load = loadavg()[0]!.toFixed(1);
      let tracers: ChildProcess[] = [];
      // Attached once the clients are connected, so that the counts are the publishing's and the drain's alone.
      const traceName = `${transport.replace(/[^\w.-]+/g, '_')}-${run + 1}`;
      let cpu0: ProcReading | undefined;
      const attach = (): void => {
        cpu0 = readProc(server.pid);
        if (process.env.KERNEL === '1') kernel = sampleKernel(0, server.pid);
        tracers = tracersFor(traceName, server.pid);
      };
      const warmS = Math.min(Number(process.env.WARMUP_S ?? 0), 10);
      const r = await runLoad({ url: server.url, dialect, batch, ...(dialect === 'sluice' && WINDOW_BYTES > 0 ? { windowBytes: WINDOW_BYTES } : {}), plan, durationMs: SECONDS * 1000, warmupMs: warmS * 1000, workers: 2, serverPid: server.pid, drainMs: 2000, connectPhaseMs: 60_000, progress: (line) => {
          if (!line.startsWith('connected')) return;
          console.log(`${transport}: ${line}`);
          attach();
        },
      });
      const cpu1 = readProc(server.pid);
      clearInterval(poll);
      kernel?.stop();
      if (probe) console.log(timelineTable(r, probes, counters));
      if (kernel) console.log(kernelTable(r, kernel.readings));
      if (process.env.PERF_CORE) console.log(`${transport}: measured run from ${(r.startedAt / 1000).toFixed(3)} (wall-clock s; warm-up from ${((r.startedAt - r.warmupMs) / 1000).toFixed(3)})`);
      for (const tracer of tracers) {
        tracer.kill('SIGINT');
        await new Promise((resolve) => tracer.once('exit', resolve));
      }
      if (warmS > 0) console.log(`${transport}: warm-up of ${warmS} s, every subscriber reading: p99 ${r.warmLatency.p99} ms (the figures below are over the warm-up, the run and the drain; p99 the run's)`);
      const deliveries = r.counters.deliveries + r.counters.deliveriesToSlow;
      const perDelivery = r.server ? (r.server.cpuSeconds * 1e6) / Math.max(1, deliveries) : NaN;
      const shed = r.counters.gapDropped + r.counters.gapConflated + r.counters.gapExpired;
      const perFrame = r.counters.frames > 0 ? (r.counters.deliveries / r.counters.frames).toFixed(2) : '–';
      console.log(`${transport}: delivered ${(r.deliveriesPerSec / 1e6).toFixed(3)}M/s (${r.counters.deliveries}, ${((100 * r.counters.deliveries) / Math.max(1, (r.counters.pubSent - r.counters.pubRateLimited) * Math.round(SUBSCRIBERS * (1 - SLOW)))).toFixed(1)}% of offered by the end of the drain, ${perFrame} events per frame), gateway CPU ${r.server?.cpuSeconds} s = ${perDelivery.toFixed(2)} µs/delivery, shed ${shed}, p99 ${r.latency.p99} ms, generator CPU ${r.generator.cpuSeconds} s, load ${load}`);
      if (r.counters.windowAcks > 0) console.log(`${transport}: receive windows of ${WINDOW_BYTES} B: ${r.counters.windowAcks} acknowledged, ${r.counters.recvSent} recv reports (${((1000 * r.counters.recvSent) / Math.max(1, deliveries)).toFixed(2)} per 1,000 deliveries), errors ${JSON.stringify(r.counters.errorsByCode)}`);
      const st = r.steady;
      const cost = steadyCost(st);
      if (st !== undefined && cost !== undefined) console.log(`${transport}: while publishing (${(st.fromMs / 1000).toFixed(1)}–${(st.toMs / 1000).toFixed(1)} s of the measured run): ${st.deliveriesPerSec} deliveries/s, gateway CPU ${cost.us.toFixed(2)} µs/delivery, of it user ${cost.userUs.toFixed(3)}`);
      if (process.env.PERF_STAT) {
        const file = `${process.env.PERF_STAT}-${traceName}.txt`;
        const writes = ['sendto', 'writev', 'write'].map((call) => [call, perfCount(file, `syscalls:sys_enter_${call} `) ?? 0] as const).filter(([, n]) => n > 0);
        console.log(`${transport}: ${writes.map(([call, n]) => `${call} ${n} = ${(n / Math.max(1, deliveries)).toFixed(3)} per delivery`).join(', ')}`);
        const memory = [['page-faults', 'page-faults'], ['brk', 'syscalls:sys_enter_brk '], ['mmap', 'syscalls:sys_enter_mmap '], ['munmap', 'syscalls:sys_enter_munmap ']].map(([label, event]) => `${label} ${perfCount(file, event!) ?? 0}`);
        console.log(`${transport}: memory calls over the run: ${memory.join(', ')}`);
      }
      if (cpu0 && cpu1) console.log(`${transport}: from connected to the end, gateway user ${(cpu1.cpuSeconds - cpu1.systemSeconds - cpu0.cpuSeconds + cpu0.systemSeconds).toFixed(2)} s (${(((cpu1.cpuSeconds - cpu1.systemSeconds - cpu0.cpuSeconds + cpu0.systemSeconds) * 1e6) / Math.max(1, deliveries)).toFixed(2)} µs per delivery), system ${(cpu1.systemSeconds - cpu0.systemSeconds).toFixed(2)} s`);
    } finally {
      clearInterval(poll);
      kernel?.stop();
      await server.stop(10_000);
    }
  }
}

await main();
process.exit(0);
