import { OPEN_LIMITS } from '../tool/scenarios.js';
import type { Dialect } from '../tool/plan.js';
import { SLUICE_CLI } from '../../devkit/process.js';
import type { SlowConsumerPolicy } from '../../src/protocol/policy.js';

/** One server the benchmark measures: how to start it and how to talk to it. */
export interface Target {
  readonly id: string;
  readonly label: string;
  readonly script: string;
  readonly args: string[];
  /** Sluice takes `--port`; the baselines read PORT from the environment. */
  readonly portFlag: boolean;
  readonly dialect: Dialect;
  /** A baseline the ratios are computed against. */
  readonly baseline: boolean;
  /** The clients offer `sluice.batch`: the server sends batch frames (docs/protocol.md). */
  readonly batch?: boolean;
}

/**
 * Sluice as a user would run it, with every flow-control feature on and limits opened for the load;
 * the benchmark channel sheds by `policy` (drop-oldest unless told); with `batch` its clients offer
 * `sluice.batch`.
 */
export function sluice(transport: 'ws' | 'uws', policy: SlowConsumerPolicy = 'drop-oldest', batch = false): Target {
  const named = policy === 'drop-oldest';
  const suffix = batch ? '-batch' : '';
  return {
    id: named ? `sluice-${transport}${suffix}` : `sluice-${transport}-${policy}${suffix}`,
    label: `Sluice (${[transport, ...(named ? [] : [policy]), ...(batch ? ['batch frames'] : [])].join(', ')})`,
    script: SLUICE_CLI,
    args: [
      '--transport', transport,
      '--host', '127.0.0.1',
      '--log.level', 'warn',
      '--log.healthSummaryIntervalMs', '0',
      '--limits.maxConnections', '20000',
      '--channels', JSON.stringify([{ pattern: 'fanout.*', policy }, { pattern: 'idle.*', policy: 'disconnect' }]),
      ...OPEN_LIMITS,
    ],
    portFlag: true,
    dialect: 'sluice',
    baseline: false,
    batch,
  };
}

const SERVERS = 'loadtest/bench/servers';

export const TARGETS: Target[] = [
  { id: 'ws-send', label: 'raw ws, send() per subscriber', script: `${SERVERS}/raw-ws.ts`, args: ['send'], portFlag: false, dialect: 'raw', baseline: true },
  { id: 'ws-framed', label: 'raw ws, framed once + corked', script: `${SERVERS}/raw-ws.ts`, args: ['framed'], portFlag: false, dialect: 'raw', baseline: true },
  { id: 'uws', label: 'raw uWS app.publish', script: `${SERVERS}/raw-uws.ts`, args: [], portFlag: false, dialect: 'raw', baseline: true },
  { id: 'socketio', label: 'Socket.IO broadcast', script: `${SERVERS}/socketio.ts`, args: [], portFlag: false, dialect: 'socketio', baseline: true },
  sluice('ws'),
  sluice('uws'),
];

/**
 * Raw uWS publishing each turn's messages after the read instead of from the publisher's message
 * handler (raw-uws.ts `defer`): the high-rate bench's raw uWS baseline at 1.8M/s, where the handler
 * version writes a subscriber's 33rd pending publication uncorked, one send() per frame.
 */
export const RAW_UWS_PER_TURN: Target = { id: 'uws-per-turn', label: 'raw uWS app.publish, per turn', script: `${SERVERS}/raw-uws.ts`, args: ['defer'], portFlag: false, dialect: 'raw', baseline: true };
