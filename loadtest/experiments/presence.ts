/**
 * Presence cost, in process (one node, memory broker): `watchers` real WebSocket clients subscribed
 * with `presence: true` to one channel while `members` identities join and leave it at random for
 * `seconds` (the churn enters through the node's presence engine, not through sockets). Three
 * runs side by side: batching at 1000 ms, batching off (interval 0: a frame per change), presence
 * off (no frames). Prints frames and bytes watchers received per second, the largest number of
 * frames one watcher got in one interval, and the process's CPU. Then a 100,000-member channel:
 * the time of an occupancy answer and of a page of 100.
 *
 *   npx tsx loadtest/experiments/presence.ts [--watchers 200] [--members 2000] [--seconds 10]
 */
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config/load.js';
import { Gateway } from '../../src/gateway.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const WATCHERS = arg('watchers', 200);
const MEMBERS = arg('members', 2000);
const SECONDS = Math.min(arg('seconds', 10), 60);

async function run(label: string, presence: boolean, intervalMs: number): Promise<void> {
  const config = loadConfig({ overrides: { host: '127.0.0.1', port: 0, log: { level: 'silent', healthSummaryIntervalMs: 0 }, inbound: { messagesPerSecond: 0, bytesPerSecond: 0 }, channels: [{ pattern: 'room', presence, presenceIntervalMs: intervalMs, maxMembers: 0 }] } });
  const gw = await Gateway.start({ config, log: pino({ level: 'silent' }) });
  let frames = 0;
  let bytes = 0;
  const perSecond = new Map<WebSocket, number>();
  let maxInSecond = 0;
  const sockets = await Promise.all(
    Array.from({ length: WATCHERS }, () => new Promise<WebSocket>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/`);
      ws.on('message', (data: Buffer) => {
        const text = data.toString();
        if (text.startsWith('{"ev":"presence"') || text.startsWith('{"ev":"occupancy"')) {
          frames++;
          bytes += data.length;
          const n = (perSecond.get(ws) ?? 0) + 1;
          perSecond.set(ws, n);
          maxInSecond = Math.max(maxInSecond, n);
        } else if (text.startsWith('{"ev":"ack"')) resolve(ws);
      });
      ws.on('open', () => ws.send(JSON.stringify({ op: 'sub', ch: 'room', id: 1, ...(presence ? { presence: true } : {}) })));
    })),
  );
  frames = bytes = maxInSecond = 0;
  const settings = gw.presence.settingsFor('room');
  const inRoom = new Set<number>();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const resetter = setInterval(() => perSecond.clear(), Math.max(intervalMs, 1000));
  // The churn: every member joins and leaves about once over the run, in steps of 10 ms.
  const changes = MEMBERS * 2;
  const steps = (SECONDS * 1000) / 10;
  for (let step = 0; step < steps; step++) {
    for (let k = 0; k < Math.ceil(changes / steps); k++) {
      const id = Math.floor(Math.random() * MEMBERS);
      if (!presence) continue;
      if (inRoom.delete(id)) gw.presence.leave('room', `u${id}`);
      else {
        inRoom.add(id);
        gw.presence.join('room', settings, `u${id}`, undefined);
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, 1500));
  clearInterval(resetter);
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({ run: label, watchers: WATCHERS, members: MEMBERS, seconds: SECONDS, framesPerS: Math.round(frames / elapsed), bytesPerS: Math.round(bytes / elapsed), maxFramesPerWatcherPerInterval: maxInSecond, cpuPct: Math.round(((cpu.user + cpu.system) / 1e4) / elapsed) }));
  for (const ws of sockets) ws.terminate();
  await gw.shutdown();
}

async function big(): Promise<void> {
  const config = loadConfig({ overrides: { host: '127.0.0.1', port: 0, log: { level: 'silent', healthSummaryIntervalMs: 0 }, channels: [{ pattern: 'big', presence: true, maxMembers: 0 }] } });
  const gw = await Gateway.start({ config, log: pino({ level: 'silent' }) });
  const settings = gw.presence.settingsFor('big');
  for (let i = 0; i < 100_000; i++) gw.presence.join('big', settings, `user-${i}`, '{"name":"x"}');
  gw.presence.tick();
  const t = (fn: () => unknown) => {
    const s = performance.now();
    for (let i = 0; i < 1000; i++) fn();
    return Math.round(((performance.now() - s) / 1000) * 1e6) / 1e3;
  };
  const occupancyUs = t(() => gw.presence.total('big'));
  let cursor: string | undefined;
  const pageUs = t(() => {
    const page = gw.presence.page('big', cursor, 100);
    cursor = page.ok ? page.cursor : undefined;
  });
  console.log(JSON.stringify({ run: '100k members', occupancyMicros: occupancyUs, pageOf100Micros: pageUs }));
  await gw.shutdown();
}

await run('presence on, 1000 ms batching', true, 1000);
await run('presence on, interval 0 (no batching)', true, 0);
await run('presence off', false, 1000);
await big();
