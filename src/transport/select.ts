import { ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { BodyAllowance, TransportCapabilities, TransportOptions, TransportServer } from '../net/server.js';
import { WS_CAPABILITIES, WsTransport } from './ws-transport.js';
// The stock size only: uws-cork.ts loads nothing of uWS, so processes that use ws stay free of it.
import { UWS_CORK_BYTES } from './uws-cork.js';

interface Adapter {
  readonly capabilities: TransportCapabilities;
  create(options: TransportOptions): TransportServer | Promise<TransportServer>;
}

async function adapterFor(transport: Config['transport']): Promise<Adapter> {
  switch (transport) {
    case 'ws':
      return { capabilities: WS_CAPABILITIES, create: (options) => new WsTransport(options) };
    case 'uws': {
      // Loaded only when asked for (and the native addon only by create): it stays out of processes that use ws.
      const { UWS_CAPABILITIES, UwsTransport } = await import('./uws-transport.js');
      return { capabilities: UWS_CAPABILITIES, create: (options) => UwsTransport.create(options) };
    }
  }
}

/**
 * Creates the configured transport, after checking the configuration against what its adapter
 * declares it can do (see checkCapabilities); `bodyAllowance` bounds the HTTP body bytes it reads
 * per turn (the gateway's, `limits.httpBodyBytesPerTurn`).
 */
export async function createTransport(config: Config, bodyAllowance?: BodyAllowance): Promise<TransportServer> {
  const adapter = await adapterFor(config.transport);
  checkCapabilities(config, adapter.capabilities);
  return adapter.create({
    host: config.host,
    port: config.port,
    maxPayloadBytes: config.limits.maxPayloadBytes,
    highWaterMarkBytes: config.outbound.highWaterMarkBytes,
    maxQueueBytes: config.outbound.maxQueueBytes,
    perMessageDeflate: config.compression,
    batchMaxBytes: config.outbound.batchMaxBytes,
    topicFanOut: config.outbound.uwsTopicFanout,
    uwsCorkBytes: config.outbound.uwsCorkBytes,
    maxTopicsPerSocket: config.limits.maxSubscriptionsPerConnection,
    maxHttpBodyBytes: config.httpApi.maxBodyBytes,
    httpRequestTimeoutMs: config.limits.httpRequestTimeoutMs,
    ...(bodyAllowance === undefined ? {} : { bodyAllowance }),
  });
}

/** Refuses, before anything starts, a configuration the configured transport cannot carry out. */
export async function checkTransportConfig(config: Config): Promise<void> {
  checkCapabilities(config, (await adapterFor(config.transport)).capabilities);
}

/** Throws a ConfigError naming every key whose setting the transport cannot carry out. */
export function checkCapabilities(config: Config, capabilities: TransportCapabilities): void {
  const { transport, inbound, heartbeat } = config;
  const { library, maxSilenceMs } = capabilities;
  const problems: string[] = [];
  if (inbound.mode === 'pause' && !capabilities.pause) {
    problems.push(`inbound.mode: 'pause' needs a transport that can stop reading; transport '${transport}' (${library}) cannot: use transport 'ws' or mode 'reject'`);
  }
  if (heartbeat.idleTimeoutMs + heartbeat.intervalMs > maxSilenceMs) {
    problems.push(
      `heartbeat.idleTimeoutMs: with transport '${transport}', heartbeat.idleTimeoutMs + heartbeat.intervalMs must be at most ${maxSilenceMs}, so that Sluice closes a silent connection before ${library}'s own idle timeout does`,
    );
  }
  if (transport === 'uws' && config.outbound.uwsCorkBytes > UWS_CORK_BYTES && config.outbound.uwsTopicFanout) {
    // Measured (docs/benchmarks.md, "Twenty-first pass"): with a 64 KiB cork buffer uWS's topic fan-out cost 0.84 µs a delivery at 1 KiB × 1.8M/s, one event per frame, against 0.56 without it.
    problems.push(
      `outbound.uwsCorkBytes: above ${UWS_CORK_BYTES} (a uWebSockets.js built with a larger cork buffer), set outbound.uwsTopicFanout to false: uWS's own fan-out then costs more than the adapter's runs (docs/transports.md, "A uWebSockets.js with a larger cork buffer")`,
    );
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration for transport '${transport}':\n  ${problems.join('\n  ')}`);
}
