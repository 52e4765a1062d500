import { pino } from 'pino';
import type { Logger } from '../../src/observability/logger.js';
import { afterEach } from 'vitest';
import { TestClient } from './client.js';
import { Gateway } from '../../src/gateway.js';
import { loadConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';

export interface TestGateway {
  readonly gateway: Gateway;
  readonly url: string;
  readonly httpUrl: string;
  stop(): Promise<void>;
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };

/** Starts a gateway on 127.0.0.1 with a random port, silent logs, and the given overrides. */
export async function startGateway(overrides: DeepPartial<ConfigInput> = {}, transport: string = 'ws'): Promise<TestGateway> {
  const config = loadConfig({
    overrides: { host: '127.0.0.1', port: 0, transport, ...overrides, log: { level: 'silent', healthSummaryIntervalMs: 0, ...(overrides.log ?? {}) } },
  });
  const gateway = await Gateway.start({ config, log: pino({ level: 'silent' }) });
  return {
    gateway,
    url: `ws://127.0.0.1:${gateway.port}/`,
    httpUrl: `http://127.0.0.1:${gateway.port}`,
    stop: () => gateway.shutdown(),
  };
}

/**
 * A suite's gateway and clients, released after each test: call inside `describe`, then
 * `session.start(...)` in a test and `session.connect()` for each client.
 */
export function gatewaySession(transport: string): { start(overrides?: DeepPartial<ConfigInput>): Promise<TestGateway>; connect(): Promise<TestClient>; readonly gw: TestGateway } {
  let gw: TestGateway | undefined;
  const clients: TestClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await gw?.stop();
    gw = undefined;
  });
  return {
    get gw() {
      if (gw === undefined) throw new Error('gateway not started');
      return gw;
    },
    async start(overrides = {}) {
      gw = await startGateway(overrides, transport);
      return gw;
    },
    async connect() {
      const c = await TestClient.connect(this.gw.url);
      clients.push(c);
      return c;
    },
  };
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
