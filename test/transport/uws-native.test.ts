import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createTransport } from '../../src/transport/select.js';
import { binaryName, loadUws } from '../../src/transport/uws-loader.js';
import { UwsTransport } from '../../src/transport/uws-transport.js';
import { TestClient } from '../helpers/client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/** Shared objects mapped into this process, from Node's diagnostic report. */
function sharedObjects(): string[] {
  const report = process.report.getReport() as unknown as { sharedObjects: string[] };
  return report.sharedObjects;
}

describe('uws transport runs the native uWebSockets.js binary', () => {
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.stop();
    gw = undefined;
  });

  it('loads a native addon, explicitly, and never the JavaScript fallback', () => {
    const loaded = loadUws();
    expect(loaded.binary.endsWith(binaryName())).toBe(true);
    expect(existsSync(loaded.binary)).toBe(true);
    // The addon is mapped into this very process, and App is native code, not the pinned package's JS imitation.
    expect(sharedObjects()).toContain(loaded.binary);
    expect(Function.prototype.toString.call(loaded.uws.App)).toContain('[native code]');
    const cached = Object.keys(createRequire(import.meta.url).cache);
    expect(cached.filter((path) => /uws-js-unofficial[\\/](src[\\/]uws\.js|dist[\\/]index\.js)$/.test(path))).toEqual([]);
    if (loaded.source === 'pinned') expect(loaded.binary).toMatch(/uws-js-unofficial[\\/]binaries[\\/]uws_[a-z0-9]+_[a-z0-9]+_\d+\.node$/);
  });

  it('is what a gateway configured with transport uws serves connections with', async () => {
    const config = loadConfig({ overrides: { host: '127.0.0.1', port: 0, transport: 'uws', log: { level: 'silent' } } });
    const transport = await createTransport(config);
    expect(transport).toBeInstanceOf(UwsTransport);
    expect(transport.name).toBe('uws');
    expect(transport.capabilities.pause).toBe(false);
    expect((transport as UwsTransport).loaded).toBe(loadUws());
    expect(transport.detail).toContain(loadUws().binary);
    await transport.close();

    gw = await startGateway({}, 'uws');
    const client = await TestClient.connect(gw.url);
    const hello = await client.next((f) => f.ev === 'hello');
    expect(hello.v).toBe(1);
    // The HTTP answer carries uWS's own server header: the native server answered, on the same port.
    const res = await fetch(`${gw.httpUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('uwebsockets')).not.toBeNull();
    client.terminate();
  });
});
