import type { Config } from '../config/schema.js';
import type { TransportServer } from '../net/server.js';
import { WsTransport } from './ws-transport.js';

/** Creates the configured transport. */
export async function createTransport(config: Config): Promise<TransportServer> {
  const options = {
    host: config.host,
    port: config.port,
    maxPayloadBytes: config.limits.maxPayloadBytes,
    highWaterMarkBytes: config.outbound.highWaterMarkBytes,
    outboundQueueBytes: config.outbound.maxQueueBytes,
    perMessageDeflate: config.compression,
    maxHttpBodyBytes: config.httpApi.maxBodyBytes,
  };
  switch (config.transport) {
    case 'ws':
      return new WsTransport(options);
    case 'uws': {
      // Loaded only when asked for: the native addon stays out of processes that use ws.
      const { UwsTransport } = await import('./uws-transport.js');
      return UwsTransport.create(options);
    }
  }
}
