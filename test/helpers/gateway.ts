import { pino } from 'pino';
import type { Logger } from '../../src/observability/logger.js';
import { Gateway } from '../../src/gateway.js';
import { loadConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import type { Clock } from '../../src/util/clock.js';

export interface TestGateway {
  readonly gateway: Gateway;
  readonly url: string;
  readonly httpUrl: string;
  stop(): Promise<void>;
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };

/** Starts a gateway on 127.0.0.1 with a random port, silent logs (unless given a logger), and the given overrides (and clock). */
export async function startGateway(overrides: DeepPartial<ConfigInput> = {}, transport: string = 'ws', clock?: Clock, log: Logger = silentLogger()): Promise<TestGateway> {
  const config = loadConfig({
    overrides: { host: '127.0.0.1', port: 0, transport, ...overrides, log: { level: 'silent', healthSummaryIntervalMs: 0, ...(overrides.log ?? {}) } },
  });
  const gateway = await Gateway.start({ config, log, ...(clock === undefined ? {} : { clock }) });
  return {
    gateway,
    url: `ws://127.0.0.1:${gateway.port}/`,
    httpUrl: `http://127.0.0.1:${gateway.port}`,
    stop: () => gateway.shutdown(),
  };
}


export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
