import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { checkCapabilities, checkTransportConfig, createTransport } from '../../src/transport/select.js';
import { UWS_CAPABILITIES } from '../../src/transport/uws-transport.js';
import { WS_CAPABILITIES } from '../../src/transport/ws-transport.js';

const config = (overrides: ConfigInput) => loadConfig({ overrides: { host: '127.0.0.1', port: 0, ...overrides } });

async function refusal(overrides: ConfigInput): Promise<string> {
  const error = await checkTransportConfig(config(overrides)).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return (error as Error).message;
}

describe('transport capabilities checked against the config', () => {
  it('refuses what uWebSockets.js cannot carry out, naming the key', async () => {
    const pause = await refusal({ transport: 'uws', inbound: { mode: 'pause' } });
    expect(pause).toContain('inbound.mode');
    expect(pause).toContain('uWebSockets.js');
    const silence = await refusal({ transport: 'uws', heartbeat: { intervalMs: 60_000, idleTimeoutMs: 880_000 } });
    expect(silence).toContain('heartbeat.idleTimeoutMs');
    expect(silence).toContain(String(UWS_CAPABILITIES.maxSilenceMs));
    await expect(createTransport(config({ transport: 'uws', inbound: { mode: 'pause' } }))).rejects.toThrow(/inbound\.mode/);
  });

  it('refuses a uWS cork buffer above the stock 16 KiB while uWS topic fan-out is on (it costs more than it saves there), and accepts it with the fan-out off or on ws', async () => {
    const cork = await refusal({ transport: 'uws', outbound: { uwsCorkBytes: 64 * 1024 } });
    expect(cork).toContain('outbound.uwsCorkBytes');
    expect(cork).toContain('outbound.uwsTopicFanout');
    await expect(checkTransportConfig(config({ transport: 'uws', outbound: { uwsCorkBytes: 64 * 1024, uwsTopicFanout: false } }))).resolves.toBeUndefined();
    await expect(checkTransportConfig(config({ transport: 'uws', outbound: { uwsCorkBytes: 16 * 1024 } }))).resolves.toBeUndefined();
    await expect(checkTransportConfig(config({ transport: 'ws', outbound: { uwsCorkBytes: 64 * 1024 } }))).resolves.toBeUndefined();
    expect(() => config({ transport: 'uws', outbound: { uwsCorkBytes: 8 * 1024 } })).toThrow(/uwsCorkBytes/);
  });

  it('accepts the same settings with ws, and what each transport can do', async () => {
    await expect(checkTransportConfig(config({ transport: 'ws', inbound: { mode: 'pause' }, heartbeat: { intervalMs: 60_000, idleTimeoutMs: 880_000 } }))).resolves.toBeUndefined();
    expect(() => checkCapabilities(config({ transport: 'uws', heartbeat: { intervalMs: 60_000, idleTimeoutMs: 840_000 } }), UWS_CAPABILITIES)).not.toThrow();
    expect(WS_CAPABILITIES.pause).toBe(true);
    expect(UWS_CAPABILITIES.pause).toBe(false);
  });
});
