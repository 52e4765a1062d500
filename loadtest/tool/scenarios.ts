import { ONE_ADDRESS } from '../../devkit/process.js';
import type { ClientPlan, Plan } from './plan.js';

/** The knobs every scenario reads; each scenario has its own defaults. */
export interface Knobs {
  /** Subscriber connections (market, slow, sensor). */
  subscribers: number;
  /** Publisher connections (market, slow). */
  publishers: number;
  /** Messages per second per publishing client. */
  rate: number;
  /** Bytes of `data` per message. */
  size: number;
  /** Channels published to (market, slow, churn). */
  channels: number;
  /** Conflation keys per channel (market). */
  keys: number;
  /** Fraction of subscribers that stop reading. */
  slowFraction: number;
  /** Sensor: devices, fraction of them over their bucket, and how far over. */
  devices: number;
  hotFraction: number;
  hotFactor: number;
  /** Chat: rooms, members per room, forced drops (reconnect + resume) per member. */
  rooms: number;
  members: number;
  drops: number;
  /** Churn: concurrent connect/subscribe/close loops per worker. */
  churn: number;
  /** Every Nth publication carries a timestamp; 0 = chosen from the total rate (~200 samples/s). */
  sampleEvery: number;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly defaults: Partial<Knobs>;
  build(k: Knobs, durationMs: number): Plan;
}

export const BASE_KNOBS: Knobs = {
  subscribers: 200,
  publishers: 1,
  rate: 100,
  size: 100,
  channels: 1,
  keys: 0,
  slowFraction: 0,
  devices: 50,
  hotFraction: 0.1,
  hotFactor: 5,
  rooms: 20,
  members: 10,
  drops: 1,
  churn: 20,
  sampleEvery: 0,
};

/** The limits a load run opens: generous inbound buckets, so the publishers set the pace, and none per address (`ONE_ADDRESS`: every client connects from 127.0.0.1). */
export const OPEN_LIMITS = ['--inbound.messagesPerSecond', '1000000', '--inbound.messagesBurst', '1000000', '--inbound.bytesPerSecond', '1000000000', '--inbound.bytesBurst', '1000000000', ...ONE_ADDRESS];

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const sampleEvery = (k: Knobs, totalRate: number): number => (k.sampleEvery > 0 ? k.sampleEvery : Math.max(1, Math.ceil(totalRate / 200)));
/** Spreads `fraction` of `n` evenly: true for the chosen indexes. */
const chosen = (i: number, fraction: number): boolean => Math.floor((i + 1) * fraction) > Math.floor(i * fraction);
const rules = (rs: Array<Record<string, unknown>>): string[] => ['--channels', JSON.stringify(rs)];

/** One or more publishers → N subscribers on the same channels. */
function fanout(scenario: string, prefix: string, k: Knobs, lossless: boolean, serverFlags: string[]): Plan {
  const channels = range(k.channels).map((i) => `${prefix}.${i}`);
  const publish = { channels, rate: k.rate, keys: k.keys, size: k.size, sampleEvery: sampleEvery(k, k.rate * k.publishers) };
  const clients: ClientPlan[] = [
    ...range(k.publishers).map(() => ({ subscribe: [], publish })),
    ...range(k.subscribers).map((i) => ({ subscribe: channels, slow: chosen(i, k.slowFraction) })),
  ];
  return { scenario, clients, serverFlags: [...OPEN_LIMITS, ...serverFlags], lossless: lossless && k.slowFraction === 0 };
}

export const SCENARIOS: Record<string, Scenario> = {
  conflate: {
    name: 'conflate',
    description: 'one publisher → N subscribers on a conflated channel with K keys',
    defaults: { subscribers: 500, rate: 500, keys: 50 },
    build: (k) => fanout('conflate', 'market', k, false, rules([{ pattern: 'market.*', policy: 'conflate' }])),
  },
  slow: {
    name: 'slow',
    description: 'fan-out (drop-oldest) with a fraction of subscribers that stop reading',
    defaults: { subscribers: 500, rate: 200, slowFraction: 0.1 },
    build: (k) => fanout('slow', 'fanout', k, true, rules([{ pattern: 'fanout.*', policy: 'drop-oldest' }])),
  },
  fanout: {
    name: 'fanout',
    description: 'one publisher → N subscribers, lossless (disconnect policy)',
    defaults: { subscribers: 500, rate: 200 },
    build: (k) => fanout('fanout', 'fanout', k, true, []),
  },
  sensor: {
    name: 'sensor',
    description: 'M devices each publishing to its own channel, a few subscribers; some devices exceed their bucket',
    defaults: { subscribers: 4, rate: 20 },
    build(k) {
      const devices = range(k.devices).map((i) => `sensor.d${i}`);
      const totalRate = k.devices * k.rate * (1 + k.hotFraction * (k.hotFactor - 1));
      const every = sampleEvery(k, totalRate);
      const clients: ClientPlan[] = [
        ...devices.map((ch, i) => ({
          subscribe: [],
          publish: { channels: [ch], rate: chosen(i, k.hotFraction) ? k.rate * k.hotFactor : k.rate, keys: 0, size: k.size, sampleEvery: every },
        })),
        // Each subscriber watches every device (up to the server's per-connection limit).
        ...range(k.subscribers).map(() => ({ subscribe: devices.slice(0, 100) })),
      ];
      // Normal devices stay within 2× their rate; hot ones exceed it. Strikes are raised so they are refused, not cut off.
      const bucket = String(2 * k.rate);
      const serverFlags = ['--inbound.messagesPerSecond', bucket, '--inbound.messagesBurst', bucket, '--inbound.rateLimitStrikes', '1000000000'];
      return { scenario: 'sensor', clients, serverFlags, lossless: true };
    },
  },
  chat: {
    name: 'chat',
    description: 'R rooms × k members, all publishing; disconnect policy; exactly-once in-order check across reconnect-and-resume',
    defaults: { rate: 2 },
    build(k, durationMs) {
      const every = sampleEvery(k, k.rooms * k.members * k.rate);
      const clients: ClientPlan[] = [];
      for (const r of range(k.rooms)) {
        const room = `chat.room${r}`;
        for (const m of range(k.members)) {
          // Drops spread over the middle of the run, different for every member.
          const dropAtMs = range(k.drops).map((d) => Math.round(durationMs * ((d + 1) / (k.drops + 1)) * (0.5 + ((r * 31 + m * 17) % 100) / 200)));
          clients.push({ subscribe: [room], publish: { channels: [room], rate: k.rate, keys: 0, size: k.size, sampleEvery: every }, verify: true, dropAtMs });
        }
      }
      return { scenario: 'chat', clients, serverFlags: [...OPEN_LIMITS, ...rules([{ pattern: 'chat.*', policy: 'disconnect', historySize: 10_000 }])], lossless: true };
    },
  },
  churn: {
    name: 'churn',
    description: 'connect → subscribe → close storms from every worker',
    defaults: { channels: 10 },
    build(k) {
      const channels = range(k.channels).map((i) => `churn.${i}`);
      return { scenario: 'churn', clients: [], churn: { concurrency: k.churn, channels }, serverFlags: [...OPEN_LIMITS, '--limits.maxConnections', '100000'], lossless: true };
    },
  },
};
