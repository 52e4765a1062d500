import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { gatewayHarness } from '../helpers/harness.js';
import { TRANSPORTS } from '../helpers/transports.js';

const KEY = 'backend-key-0123456789abcdef';
const MIB = 1024 * 1024;

/** A raw HTTP/1.1 exchange on its own TCP connection: the test decides how much of a request is sent. */
class RawHttp {
  text = '';
  closed = false;
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.text += chunk;
      this.wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static open(port: number): Promise<RawHttp> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new RawHttp(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends a request head declaring a body of `length` bytes, and `sent` of them. */
  post(path: string, length: number, sent: number, headers: Record<string, string> = {}): void {
    const lines = [`POST ${path} HTTP/1.1`, 'Host: x', 'Content-Type: application/json', `Content-Length: ${length}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    this.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (sent > 0) this.socket.write(Buffer.alloc(sent, 0x20));
  }

  /** The status line's code, once a response head arrived. */
  async status(): Promise<number> {
    await this.until(() => /^HTTP\/1\.1 \d{3}/.test(this.text) || this.closed);
    return Number(/^HTTP\/1\.1 (\d{3})/.exec(this.text)?.[1] ?? 0);
  }

  until(condition: () => boolean): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = () => {
        if (!condition()) return;
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      };
      this.waiters.push(waiter);
    });
  }

  private wake(): void {
    for (const w of this.waiters.slice()) w();
  }
}

describe.each(TRANSPORTS)('HTTP bounds [%s]', (transport) => {
  let gw: TestGateway | undefined;
  const h = gatewayHarness(transport);
  const raws: RawHttp[] = [];
  const raw = async (): Promise<RawHttp> => {
    const r = await RawHttp.open(Number(new URL(gw!.httpUrl).port));
    raws.push(r);
    return r;
  };
  afterEach(() => {
    for (const r of raws.splice(0)) r.socket.destroy();
  });

  it('answers a POST with a large body to any path but the publish API without reading the body, and closes', async () => {
    gw = await h.start({ httpApi: { apiKeys: [KEY] } });
    for (const path of ['/healthz', '/metrics', '/', '/nope']) {
      const r = await raw();
      r.post(path, MIB - 1, 1024);
      expect(await r.status(), path).toBe(405);
      await r.until(() => r.closed);
    }
  });

  it('refuses an unauthenticated publish before reading its body', async () => {
    gw = await h.start({ httpApi: { apiKeys: [KEY] } });
    const anonymous = await raw();
    anonymous.post('/api/publish', MIB - 1, 1024);
    expect(await anonymous.status()).toBe(401);
    const wrongKey = await raw();
    wrongKey.post('/api/publish', MIB - 1, 1024, { Authorization: 'Bearer wrong-key-0123456789abcdef' });
    expect(await wrongKey.status()).toBe(401);
    await wrongKey.until(() => wrongKey.closed);
  });

  it('refuses HTTP requests beyond limits.maxHttpRequests in progress with 503 and Retry-After', async () => {
    gw = await h.start({ httpApi: { apiKeys: [KEY] }, limits: { maxHttpRequests: 2 } });
    const slow = [await raw(), await raw()];
    const body = JSON.stringify({ ch: 'a.b', data: 1 });
    for (const r of slow) r.post('/api/publish', body.length, 0, { Authorization: `Bearer ${KEY}` });
    // Both are in progress (authenticated, waiting for their bodies) once the gateway counts them.
    await until(() => gw!.gateway.stats.httpRequestsInProgress === 2);
    const refused = await fetch(`${gw.httpUrl}/healthz`);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    slow[0]!.socket.write(body);
    expect(await slow[0]!.status()).toBe(202);
    expect((await fetch(`${gw.httpUrl}/healthz`)).status).toBe(200);
    // /metrics says so: the one still waiting for its body and the scrape itself, and the refusal.
    const metrics = await (await fetch(`${gw.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^sluice_http_requests_in_progress 2$/m);
    expect(metrics).toMatch(/^sluice_http_requests_refused_total 1$/m);
  });

  it('closes a request whose body does not arrive within limits.httpRequestTimeoutMs', async () => {
    gw = await h.start({ httpApi: { apiKeys: [KEY] }, limits: { httpRequestTimeoutMs: 300 } });
    const r = await raw();
    r.post('/api/publish', 100, 10, { Authorization: `Bearer ${KEY}` });
    await r.until(() => r.closed);
    await until(() => gw!.gateway.stats.httpRequestsInProgress === 0);
  });

  it.skipIf(transport === 'uws')('closes a connection whose request head does not arrive within limits.httpRequestTimeoutMs', async () => {
    gw = await h.start({ limits: { httpRequestTimeoutMs: 300 } });
    const r = await raw();
    r.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    await r.until(() => r.closed);
  });
});

function until(condition: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (condition() ? resolve() : setTimeout(check, 10));
    check();
  });
}
