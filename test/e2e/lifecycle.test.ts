import { afterEach, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/client.js';
import type { TestGateway } from '../helpers/gateway.js';
import { gatewayHarness } from '../helpers/harness.js';
import { runCli, waitForLog, type NodeRun } from '../../devkit/process.js';
import { TRANSPORTS } from '../helpers/transports.js';

describe.each(TRANSPORTS)('lifecycle [%s]', (transport) => {
  let gw: TestGateway | undefined;
  const h = gatewayHarness(transport);
  const connect = () => h.connect();

  it('serves /healthz, /readyz and /metrics on the WebSocket port', async () => {
    gw = await h.start();
    const c = await connect();
    await c.subscribe('chat.m');
    await c.request({ op: 'pub', ch: 'chat.m', data: 1 });
    expect((await fetch(`${gw.httpUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${gw.httpUrl}/readyz`)).status).toBe(200);
    expect((await fetch(`${gw.httpUrl}/nope`)).status).toBe(404);
    const metrics = await (await fetch(`${gw.httpUrl}/metrics`)).text();
    for (const name of [
      'sluice_connections 1',
      'sluice_messages_in_total',
      'sluice_messages_out_total',
      'sluice_bytes_in_total',
      'sluice_bytes_out_total',
      'sluice_messages_shed_total',
      'sluice_disconnects_total',
      'sluice_rate_limited_total',
      'sluice_outbound_queue_bytes_bucket',
      'sluice_nodejs_eventloop_lag_seconds',
    ]) {
      expect(metrics).toContain(name);
    }
  });

  it('refuses connections over the limit with 503 before the upgrade', async () => {
    gw = await h.start({ limits: { maxConnections: 2 } });
    await connect();
    await connect();
    await expect(connect()).rejects.toThrow('HTTP 503');
    expect(gw.gateway.stats.connectionsRejected).toBe(1);
  });

  it('cuts peers that stop answering with 4103 (idle timeout)', async () => {
    gw = await h.start({ heartbeat: { intervalMs: 100, idleTimeoutMs: 300 } });
    const alive = await connect();
    const dead = await connect();
    dead.tcp.pause(); // cannot read pings, so it never answers
    await new Promise<void>((resolve) => {
      const check = () => (gw!.gateway.connectionCount === 1 ? resolve() : setTimeout(check, 50));
      check();
    });
    expect(gw.gateway.stats.closesByCode.get(4103)).toBe(1);
    expect((await alive.request({ op: 'ping' })).ev).toBe('pong');
  });

  it('shuts down gracefully: readyz fails, queued messages are flushed, clients get 4200', async () => {
    gw = await h.start({ shutdown: { drainTimeoutMs: 5000 } });
    const subs = await Promise.all([connect(), connect(), connect()]);
    for (const s of subs) await s.subscribe('chat.bye');
    const pub = await connect();
    for (let i = 1; i <= 200; i++) pub.send({ op: 'pub', ch: 'chat.bye', data: i });
    await pub.request({ op: 'ping' });
    const stopping = gw.gateway.shutdown();
    expect(gw.gateway.ready).toBe(false);
    await stopping;
    for (const s of subs) {
      expect(await s.closed()).toBe(4200);
      expect(s.messages('chat.bye')).toHaveLength(200);
    }
    gw = undefined;
  });

  it('closes non-reading clients when the drain timeout passes', async () => {
    gw = await h.start({ shutdown: { drainTimeoutMs: 200 }, inbound: { messagesPerSecond: 0, bytesPerSecond: 0 }, outbound: { highWaterMarkBytes: 16 * 1024 } });
    const stuck = await connect();
    await stuck.subscribe('chat.stuck');
    stuck.tcp.pause();
    const pub = await connect();
    for (let i = 0; i < 3000; i++) pub.send({ op: 'pub', ch: 'chat.stuck', data: 'q'.repeat(4000) });
    await pub.request({ op: 'ping' });
    await gw.gateway.shutdown();
    expect(gw.gateway.connectionCount).toBe(0);
    gw = undefined;
  });
});

describe('command line', () => {
  let run: NodeRun | undefined;
  afterEach(() => {
    if (run && run.child.exitCode === null) run.child.kill('SIGKILL');
    run = undefined;
  });

  it('starts, serves, and exits 0 on SIGTERM after closing clients with 4200', async () => {
    run = runCli(['--port', '0', '--host', '127.0.0.1']);
    const listening = await waitForLog(run, 'sluice listening');
    const client = await TestClient.connect(`ws://127.0.0.1:${listening.port}/`);
    await client.subscribe('chat.cli');
    run.child.kill('SIGTERM');
    expect(await client.closed()).toBe(4200);
    expect(await run.exited).toBe(0);
    expect(run.stdout).toContain('sluice stopped');
  });

  it('rejects a bad environment variable, naming the key and its source', async () => {
    run = runCli(['--print-config'], { SLUICE_OUTBOUND_MAX_QUEUE_BYTES: 'lots' });
    expect(await run.exited).toBe(2);
    expect(run.stderr).toContain('outbound.maxQueueBytes');
    expect(run.stderr).toContain('SLUICE_OUTBOUND_MAX_QUEUE_BYTES');
  });

  it('rejects an out-of-range flag, naming the key', async () => {
    run = runCli(['--print-config', '--outbound.maxQueueBytes', '10']);
    expect(await run.exited).toBe(2);
    expect(run.stderr).toMatch(/outbound\.maxQueueBytes: .*1024.* \(from --outbound\.maxQueueBytes\)/);
  });

  it('rejects a setting the configured transport cannot carry out, naming the key', async () => {
    run = runCli(['--print-config', '--transport', 'uws', '--inbound.mode', 'pause']);
    expect(await run.exited).toBe(2);
    expect(run.stderr).toContain('inbound.mode');
    expect(run.stderr).toContain('uWebSockets.js');
  });

  it('rejects unknown keys and options', async () => {
    run = runCli(['--print-config', '--outbound.maxQueueByte', '10']);
    expect(await run.exited).toBe(2);
    expect(run.stderr).toContain('unknown option --outbound.maxQueueByte');
  });

  it('prints the effective configuration', async () => {
    run = runCli(['--print-config', '--port', '9123'], { SLUICE_INBOUND_MODE: 'pause' });
    expect(await run.exited).toBe(0);
    const config = JSON.parse(run.stdout) as { port: number; inbound: { mode: string }; outbound: { maxQueueBytes: number } };
    expect(config.port).toBe(9123);
    expect(config.inbound.mode).toBe('pause');
    expect(config.outbound.maxQueueBytes).toBe(1024 * 1024);
  });
});
