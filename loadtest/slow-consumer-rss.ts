/**
 * Server memory under slow consumers, per policy: N subscribers of which a share stop reading
 * (they never read after subscribing), while one publisher sends fixed-size messages at a fixed rate. Starts
 * a Sluice server per policy (pinned to CPU 0 when taskset exists), samples its RSS and CPU from
 * /proc, and prints one row per policy. Loopback only; every loop is bounded and it stops by itself.
 *
 *   npx tsx loadtest/slow-consumer-rss.ts [--subscribers 1000] [--slow 100] [--rate 2000]
 *       [--size 1024] [--seconds 30] [--policies drop-oldest,drop-newest,conflate,disconnect]
 *
 * Subscribers are raw WebSocket clients that count bytes instead of parsing frames, so the
 * generator costs as little as possible; deliveries are estimated as bytes / frame size.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { freePort } from './server-process.js';
import { stalledClients } from './stalled-clients.js';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000' },
    slow: { type: 'string', default: '100' },
    rate: { type: 'string', default: '2000' },
    size: { type: 'string', default: '1024' },
    seconds: { type: 'string', default: '30' },
    policies: { type: 'string', default: 'drop-oldest,drop-newest,conflate,disconnect' },
  },
});
const SUBSCRIBERS = Number(args.subscribers);
const SLOW = Number(args.slow);
const RATE = Number(args.rate);
const SIZE = Number(args.size);
const SECONDS = Math.min(Number(args.seconds), 300);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HAS_TASKSET = spawnSync('taskset', ['-V']).status === 0;
const PAGE = 4096;


/** A client frame: text, masked (clients must mask). */
function clientFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const len = payload.length;
  const header = len < 126 ? Buffer.from([0x81, 0x80 | len]) : Buffer.from([0x81, 0x80 | 126, len >> 8, len & 0xff]);
  const masked = Buffer.alloc(len);
  for (let i = 0; i < len; i++) masked[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([header, mask, masked]);
}

interface RawClient {
  socket: Socket;
  bytes: number;
}

/** Opens a WebSocket with a hand-written handshake; counts every byte received after it. */
function rawClient(port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const client: RawClient = { socket, bytes: 0 };
    let head = '';
    socket.once('error', reject);
    socket.on('connect', () => {
      socket.write(
        `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.on('data', (chunk: Buffer) => (client.bytes += chunk.length));
      client.bytes += head.length - end - 4;
      resolve(client);
    };
    socket.on('data', onData);
  });
}

function procStat(pid: number): { rssBytes: number; cpuTicks: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { cpuTicks: Number(fields[11]) + Number(fields[12]), rssBytes: Number(fields[21]) * PAGE };
}

function metric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name) && !line.startsWith('#')) sum += Number(line.split(' ').pop());
  return sum;
}

async function waitForPort(port: number, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (r.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not start');
}

async function runPolicy(policy: string) {
  const port = await freePort();
  const channels = JSON.stringify([{ pattern: 'feed.*', policy, historySize: 100 }]);
  const serverArgs = ['dist/cli.js', '--host', '127.0.0.1', '--port', String(port), '--log.level', 'warn', '--channels', channels];
  // The publisher must not be the one limited: this measures the outbound side.
  serverArgs.push('--inbound.messagesPerSecond', '0', '--inbound.bytesPerSecond', '0');
  const server: ChildProcess = HAS_TASKSET
    ? spawn('taskset', ['-c', '0', process.execPath, ...serverArgs], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] })
    : spawn(process.execPath, serverArgs, { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    await waitForPort(port, Date.now() + 30_000);
    const pid = server.pid!;
    const stalled = SLOW > 0 ? await stalledClients(port, SLOW, [JSON.stringify({ op: 'sub', ch: 'feed.x' })]) : undefined;
    const fast: RawClient[] = [];
    for (let i = SLOW; i < SUBSCRIBERS; i++) {
      const c = await rawClient(port);
      c.socket.write(clientFrame(JSON.stringify({ op: 'sub', ch: 'feed.x' })));
      fast.push(c);
    }
    const publisher = await rawClient(port);
    const baseline = procStat(pid);
    const pad = 'p'.repeat(Math.max(0, SIZE - 40));
    const frames = Array.from({ length: 10 }, (_, k) => clientFrame(JSON.stringify({ op: 'pub', ch: 'feed.x', key: `k${k}`, data: { pad } })));
    const frameBytes = Buffer.byteLength(JSON.stringify({ ev: 'msg', ch: 'feed.x', seq: 100000, key: 'k0', data: { pad } })) + 4;
    const metricsBefore = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const genCpuStart = process.cpuUsage();
    const started = Date.now();
    let sent = 0;
    let maxRss = 0;
    const rssSeries: number[] = [];
    const tick = 10;
    await new Promise<void>((resolve) => {
      let lastSample = started;
      const timer = setInterval(() => {
        const now = Date.now();
        const due = Math.min(RATE * SECONDS, Math.floor(((now - started) / 1000) * RATE));
        while (sent < due) publisher.socket.write(frames[sent++ % frames.length]!);
        if (now - lastSample >= 1000) {
          lastSample = now;
          const { rssBytes } = procStat(pid);
          rssSeries.push(rssBytes);
          if (rssBytes > maxRss) maxRss = rssBytes;
        }
        if (now - started >= SECONDS * 1000) {
          clearInterval(timer);
          resolve();
        }
      }, tick);
    });
    const end = procStat(pid);
    const elapsed = (Date.now() - started) / 1000;
    const genCpu = process.cpuUsage(genCpuStart);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const fastBytes = fast.reduce((n, c) => n + c.bytes, 0);
    const row = {
      policy,
      sent,
      seconds: Number(elapsed.toFixed(1)),
      serverCpuPct: Math.round(((end.cpuTicks - baseline.cpuTicks) / 100 / elapsed) * 100),
      rssStartMiB: Math.round(rssSeries[0]! / 2 ** 20),
      rssMaxMiB: Math.round(maxRss / 2 ** 20),
      rssEndMiB: Math.round(rssSeries[rssSeries.length - 1]! / 2 ** 20),
      publishedBySrv: metric(metrics, 'sluice_publications_total') - metric(metricsBefore, 'sluice_publications_total'),
      srvWritesPerSec: Math.round((metric(metrics, 'sluice_messages_out_total') - metric(metricsBefore, 'sluice_messages_out_total')) / elapsed),
      fastReadPerSec: Math.round(fastBytes / frameBytes / elapsed),
      generatorCpuPct: Math.round(((genCpu.user + genCpu.system) / 1e6 / elapsed) * 100),
      offeredPerSec: RATE * SUBSCRIBERS,
      queuedMiBNow: Math.round(metric(metrics, 'sluice_outbound_queue_bytes_sum') / 2 ** 20),
      shedDropped: metric(metrics, 'sluice_messages_shed_total{reason="dropped"}'),
      shedConflated: metric(metrics, 'sluice_messages_shed_total{reason="conflated"}'),
      shedExpired: metric(metrics, 'sluice_messages_shed_total{reason="expired"}'),
      closed4100: metric(metrics, 'sluice_disconnects_total{code="4100"}'),
      connectionsLeft: metric(metrics, 'sluice_connections '),
    };
    for (const c of fast) c.socket.destroy();
    stalled?.kill();
    publisher.socket.destroy();
    return row;
  } finally {
    server.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  if (HAS_TASKSET) spawnSync('taskset', ['-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  // Measure the compiled server, as deployed (not the tsx loader).
  if (spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' }).status !== 0) throw new Error('build failed');
  console.log(
    `machine: ${cpus()[0]?.model} × ${cpus().length}, node ${process.version}; ${HAS_TASKSET ? 'server on CPU 0, generator on CPU 1' : 'unpinned'}; ` +
      `${SUBSCRIBERS} subscribers (${SLOW} not reading), ${RATE} msg/s × ${SIZE} B for ${SECONDS} s`,
  );
  const rows = [];
  for (const policy of args.policies!.split(',')) {
    const row = await runPolicy(policy);
    console.log(JSON.stringify(row));
    rows.push(row);
  }
  console.table(rows);
  process.exit(0);
}

void main();
