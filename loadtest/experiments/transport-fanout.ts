/**
 * Deliveries per second, ws vs uws, side by side in one run: 1 publisher → 1,000 subscribers,
 * 100-byte messages.
 *
 *   npx tsx loadtest/experiments/transport-fanout.ts [messages=2000] [rounds=2]
 *
 * Each round runs both transports in turn (ws, uws), each in a fresh server process. The clock
 * starts when the first message is sent and stops when every subscriber has received every
 * message (queues drained). The publisher sends in windows of 100 and waits for the ack of each
 * window's last message. Subscribers are raw clients that count frames by their headers, in this
 * one process, so the load generator shares the 2 cores with the server: compare the ratio, not
 * the absolute figures. Bounded: at most 20,000 messages and 5 rounds, every wait has a deadline.
 */
import { clientFrame } from '../../devkit/wire-client.js';
import { allReach, machine, openClients, publishInWindows, startSluice } from './transport-probe.js';

const MESSAGES = Math.min(Number(process.argv[2] ?? 2_000), 20_000);
const ROUNDS = Math.min(Number(process.argv[3] ?? 2), 5);
const SUBSCRIBERS = 1_000;
const WINDOW = 100;
const TRANSPORTS = ['ws', 'uws'] as const;
// {"op":"pub","ch":"bench","data":"xx…"} with a 100-byte data member (98 characters plus quotes).
const DATA = JSON.stringify('x'.repeat(98));

function pubFrame(id?: number): Buffer {
  return clientFrame(`{"op":"pub","ch":"bench"${id === undefined ? '' : `,"id":${id}`},"data":${DATA}}`);
}

interface Result {
  readonly rate: number;
  /** Deliveries per CPU second of the server process. */
  readonly perCpuSecond: number;
}

async function run(transport: string): Promise<Result> {
  const server = await startSluice([
    '--transport', transport,
    '--inbound.messagesPerSecond', '0',
    '--inbound.bytesPerSecond', '0',
    '--log.healthSummaryIntervalMs', '0',
  ]);
  const guard = setTimeout(() => {
    console.error(`${transport}: timed out`);
    process.exit(1);
  }, 120_000);
  try {
    const subs = await openClients(server.port, SUBSCRIBERS, 250);
    // hello + ack each; then every message.
    const subscribed = allReach(subs, 2);
    for (const s of subs) s.send(clientFrame('{"op":"sub","ch":"bench","id":1}'));
    await subscribed;
    const allDone = allReach(subs, 2 + MESSAGES);

    const [publisher] = await openClients(server.port, 1, 1);
    const cpuStart = server.cpuSeconds();
    const start = process.hrtime.bigint();
    await publishInWindows(publisher!, MESSAGES, WINDOW, pubFrame);
    await allDone;
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const cpu = server.cpuSeconds() - cpuStart;
    for (const c of [...subs, publisher!]) c.destroy();
    return { rate: (MESSAGES * SUBSCRIBERS) / seconds, perCpuSecond: (MESSAGES * SUBSCRIBERS) / cpu };
  } finally {
    clearTimeout(guard);
    await server.stop();
  }
}

async function main(): Promise<void> {
  console.log(`fan-out: 1 publisher -> ${SUBSCRIBERS} subscribers, ${MESSAGES} messages of 100 data bytes, ${ROUNDS} rounds; ${machine()}`);
  const results: Record<string, Result[]> = { ws: [], uws: [] };
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  for (let round = 1; round <= ROUNDS; round++) {
    for (const transport of TRANSPORTS) {
      const r = await run(transport);
      results[transport]!.push(r);
      console.log(`round ${round} ${transport.padEnd(3)}: ${fmt(r.rate)} deliveries/s, ${fmt(r.perCpuSecond)} deliveries per server CPU second`);
    }
  }
  const best = (xs: Result[], k: keyof Result) => Math.max(...xs.map((x) => x[k]));
  for (const k of ['rate', 'perCpuSecond'] as const) {
    const ws = best(results.ws!, k);
    const uws = best(results.uws!, k);
    console.log(`best ${k}: ws ${fmt(ws)}  uws ${fmt(uws)}  uws/ws ${(uws / ws).toFixed(2)}`);
  }
}

await main();
process.exit(0);
