/**
 * The longest loop turn a flood costs a fresh gateway: 20 peers that do not read each write their
 * `inbound.messagesBurst` + 40 frames at once (ten of them WebSocket pings of 125 bytes, ten
 * `{"op":"ping"}` requests: the adversary suite's ping flood, its sends gathered into one write),
 * so the gateway reads them in one or two turns. Prints, per run, the longest turn's wall time, the
 * main thread's CPU and run-queue wait in it, the garbage collections' ms and (uws) the frames uWS
 * handed to JavaScript in it (turn-probe.mjs), the requests the gateway took in
 * (`sluice_messages_in_total`; pings are not counted there), and the main thread's CPU over the
 * whole flood (the probe's 1 ms timer included). The CPU is the figure to compare across commits
 * and bursts; the wait is the machine's load. FLOOD_NODE_ARGS adds node flags to the gateways
 * (space-separated: `--cpu-prof --cpu-prof-dir=…`, `--perf-basic-prof-only-functions`). Runs alternate between the
 * settings given, each in a fresh gateway (its code not yet optimised, as in the adversary suite).
 *
 *   npx tsx loadtest/experiments/flood-turn.ts [runs=3] [transport=uws] [burst,...=500] [dir,...]
 *
 * Several bursts (`250,500`) or checkouts (`dir`: `.` for this one, or e.g. a worktree of an older
 * commit, whose own src/cli.ts runs) alternate run by run. Loopback only; each run lasts about 3 s.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GATEWAY_NODE_FLAGS, SLUICE_CLI, spawnServer } from '../../devkit/process.js';
import { clientFrame } from '../../devkit/wire-client.js';
import { AttackClient, type Tally } from '../tool/adversary/attack-client.js';

const PEERS = 20;
const PROBE = fileURLToPath(new URL('./turn-probe.mjs', import.meta.url));
const [runsArg = '3', transport = 'uws', burstsArg = '500', dirsArg = ''] = process.argv.slice(2);
const runs = Math.min(20, Number(runsArg));
const bursts = burstsArg.split(',').map(Number);
const dirs = dirsArg === '' ? [undefined] : dirsArg.split(',').map((d) => resolve(d));
const EXTRA_NODE_ARGS = (process.env.FLOOD_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Turn {
  readonly endedAt: number;
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly waitMs: number;
  readonly frames?: number;
  readonly gcMs: number;
}

/** The gateway's main thread's CPU time so far, in ms (its /proc schedstat). */
function mainThreadCpuMs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
}

async function requestsIn(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('sluice_messages_in_total'));
  return Number(line?.split(' ').pop() ?? 0);
}

async function run(burst: number, dir: string | undefined): Promise<string> {
  const server = await spawnServer({
    script: dir === undefined ? SLUICE_CLI : resolve(dir, SLUICE_CLI),
    args: ['--host', '127.0.0.1', '--log.level', 'error', '--log.healthSummaryIntervalMs', '0', '--transport', transport, '--inbound.messagesBurst', String(burst)],
    portFlag: true,
    env: { TURN_PROBE_FRAMES: transport === 'uws' ? '1' : '0' },
    // The repository's own CLI gets the gateway's node flags by name; another checkout's, here.
    nodeArgs: [...(dir === undefined ? [] : GATEWAY_NODE_FLAGS), '--import', PROBE, ...EXTRA_NODE_ARGS],
  });
  try {
    const target = { url: new URL(server.url), host: '127.0.0.1', port: server.port, apiKey: '' };
    const tally: Tally = {};
    const peers: AttackClient[] = [];
    for (let i = 0; i < PEERS; i++) {
      const c = await AttackClient.connect(target, tally);
      if (c !== undefined) peers.push(c);
    }
    for (const c of peers) c.stall();
    const perPeer = burst + 40;
    const pings = Buffer.concat(Array.from({ length: perPeer }, () => clientFrame(Buffer.alloc(125, 0x70), 0x9)));
    const requests = Buffer.concat(Array.from({ length: perPeer }, (_, i) => clientFrame(`{"op":"ping","id":${i}}`)));
    const before = await requestsIn(server.port);
    await sleep(500);
    const start = Date.now();
    const cpuBefore = mainThreadCpuMs(server.pid);
    peers.forEach((c, i) => c.sendFrames(i % 2 === 0 ? pings : requests));
    await sleep(1500);
    const floodCpu = mainThreadCpuMs(server.pid) - cpuBefore;
    const taken = (await requestsIn(server.port)) - before;
    for (const c of peers) c.end();
    await server.stop();
    const turns = server.stderr
      .split('\n')
      .filter((l) => l.startsWith('turn '))
      .map((l) => JSON.parse(l.slice(5)) as Turn)
      .filter((t) => t.endedAt >= start);
    const top = turns.reduce<Turn | undefined>((a, t) => (a === undefined || t.cpuMs > a.cpuMs ? t : a), undefined);
    const where = dir === undefined ? 'here' : dir;
    const frames = top?.frames === undefined ? '' : `, ${top.frames} frames`;
    const turn = top === undefined ? 'no turn over 20 ms' : `longest turn ${top.wallMs} ms: CPU ${top.cpuMs} ms (in GC ${top.gcMs} ms), waiting ${top.waitMs} ms${frames}`;
    return `${where} ${transport} burst ${burst}: ${turn}; requests taken in ${taken}; main thread CPU over the flood ${floodCpu.toFixed(1)} ms; load ${loadavg()[0]!.toFixed(2)}`;
  } finally {
    await server.stop();
  }
}

for (let r = 0; r < runs; r++) for (const dir of dirs) for (const burst of bursts) console.log(await run(burst, dir));
