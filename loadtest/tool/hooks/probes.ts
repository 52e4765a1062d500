import WebSocket from 'ws';

/**
 * The clients of the hooks benchmark (main.ts): each probe is bounded by a count or a deadline,
 * talks to one server on loopback, and returns plain figures.
 */

/** Source addresses rotated so that TIME_WAIT sockets never exhaust the ephemeral ports. */
const SOURCES = Array.from({ length: 32 }, (_, i) => `127.0.0.${i + 2}`);

export type Frame = Record<string, unknown>;

/** A connected client that matches replies to requests by id. */
export class Client {
  private nextId = 1;
  private readonly pending = new Map<number, (frame: Frame) => void>();
  closed = false;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      const done = typeof frame.id === 'number' ? this.pending.get(frame.id) : undefined;
      if (done !== undefined) {
        this.pending.delete(frame.id as number);
        done(frame);
      }
    });
    ws.on('close', () => {
      this.closed = true;
      for (const done of this.pending.values()) done({ ev: 'closed' });
      this.pending.clear();
    });
  }

  /** Opens a connection and resolves once its `hello` arrives. */
  static open(url: string, token = '', i = 0): Promise<Client> {
    const ws = new WebSocket(url, { perMessageDeflate: false, localAddress: SOURCES[i % SOURCES.length], headers: token === '' ? {} : { Authorization: `Bearer ${token}` } });
    return new Promise((resolve, reject) => {
      ws.once('message', () => resolve(new Client(ws)));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
  }

  request(frame: Frame): Promise<Frame> {
    if (this.closed) return Promise.resolve({ ev: 'closed' });
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.ws.send(JSON.stringify({ ...frame, id }));
    });
  }
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Completed connects (upgrade → `hello`) on `slots` concurrent slots for `windowMs`, each closed at once. */
export async function connects(url: string, tokens: readonly string[], slots: number, windowMs: number): Promise<{ connects: number; failures: number; elapsedMs: number }> {
  const start = performance.now();
  const until = start + windowMs;
  let n = 0;
  let ok = 0;
  let failures = 0;
  const slot = async (): Promise<void> => {
    while (performance.now() < until) {
      const i = n++;
      try {
        const client = await Client.open(url, tokens[i % tokens.length]!, i);
        client.ws.terminate();
        ok++;
      } catch {
        failures++;
      }
    }
  };
  await Promise.all(Array.from({ length: slots }, slot));
  return { connects: ok, failures, elapsedMs: performance.now() - start };
}

/**
 * Publish round trips (pub → ack) one at a time, then subscribe round trips (sub → ack, then
 * unsub); `samples` publishes at most, and nothing more is sent once `maxMs` has passed.
 */
export async function latencies(url: string, token: string, samples: number, maxMs = Infinity): Promise<{ pubMs: number[]; subMs: number[] }> {
  const deadline = performance.now() + maxMs;
  const subscriber = await Client.open(url, token);
  const publisher = await Client.open(url, token, 1);
  const pubMs: number[] = [];
  const subMs: number[] = [];
  await subscriber.request({ op: 'sub', ch: 'bench' });
  for (let i = 0; i < samples && performance.now() < deadline; i++) {
    const t = performance.now();
    const reply = await publisher.request({ op: 'pub', ch: 'bench', data: { i, text: 'hello' } });
    if (reply.ev === 'ack') pubMs.push(performance.now() - t);
  }
  for (let i = 0; i < samples / 4 && performance.now() < deadline; i++) {
    const ch = `room.${i}`;
    const t = performance.now();
    const reply = await subscriber.request({ op: 'sub', ch });
    if (reply.ev === 'ack') subMs.push(performance.now() - t);
    await subscriber.request({ op: 'unsub', ch });
  }
  subscriber.ws.terminate();
  publisher.ws.terminate();
  return { pubMs, subMs };
}

/**
 * Publications as fast as the server takes them: `publishers` connections with `inFlight` each
 * outstanding, each on a channel of its own (a channel's hooked publications leave in order, so one
 * channel would measure that order, not the hook), for `windowMs`. Replies tallied by kind.
 */
export async function saturate(url: string, token: string, publishers: number, inFlight: number, windowMs: number): Promise<{ replies: Record<string, number>; elapsedMs: number }> {
  const clients = await Promise.all(Array.from({ length: publishers }, (_, i) => Client.open(url, token, i)));
  const replies: Record<string, number> = {};
  const start = performance.now();
  const until = start + windowMs;
  const lane = async (c: Client, ch: string): Promise<void> => {
    while (performance.now() < until && !c.closed) {
      const reply = await c.request({ op: 'pub', ch, data: 'x' });
      const key = reply.ev === 'ack' ? 'ack' : String(reply.code ?? reply.ev);
      replies[key] = (replies[key] ?? 0) + 1;
    }
  };
  await Promise.all(clients.flatMap((c, k) => Array.from({ length: inFlight }, () => lane(c, `sat.${k}`))));
  const elapsedMs = performance.now() - start;
  for (const c of clients) c.ws.terminate();
  return { replies, elapsedMs };
}

/**
 * A bystander's ping round trips (one every 10 ms) for `windowMs` while `flooders` connections
 * publish on `ch` at `rate` publications per second in all, at most 16 outstanding each; rate 0 =
 * no flood.
 */
export async function bystander(url: string, ch: string, rate: number, flooders: number, windowMs: number): Promise<{ pongMs: number[]; replies: Record<string, number> }> {
  const flood = rate > 0 ? await Promise.all(Array.from({ length: flooders }, (_, i) => Client.open(url, '', i))) : [];
  const watcher = await Client.open(url, '', flooders);
  const replies: Record<string, number> = {};
  const perTick = rate / 100 / Math.max(1, flooders);
  const outstanding = new Map<Client, number>(flood.map((c) => [c, 0]));
  let credit = 0;
  const ticker = setInterval(() => {
    credit += perTick;
    for (; credit >= 1; credit--) {
      for (const c of flood) {
        if (outstanding.get(c)! >= 16) continue;
        outstanding.set(c, outstanding.get(c)! + 1);
        void c.request({ op: 'pub', ch, data: 'x' }).then((reply) => {
          outstanding.set(c, outstanding.get(c)! - 1);
          const key = reply.ev === 'ack' ? 'ack' : String(reply.code ?? reply.ev);
          replies[key] = (replies[key] ?? 0) + 1;
        });
      }
    }
  }, 10);
  const pongMs: number[] = [];
  const until = performance.now() + windowMs;
  while (performance.now() < until) {
    const t = performance.now();
    await watcher.request({ op: 'ping' });
    pongMs.push(performance.now() - t);
    await sleep(10);
  }
  clearInterval(ticker);
  // The flood's last publications are answered (or time out) before the clients go.
  for (let waited = 0; waited < 5_000 && [...outstanding.values()].some((n) => n > 0); waited += 10) await sleep(10);
  for (const c of [...flood, watcher]) c.ws.terminate();
  return { pongMs, replies };
}

/** Opens `n` idle connections (for the refresh probe), `slots` at a time; a refused upgrade is tried again, 5 times at most. */
export async function openIdle(url: string, n: number, slots = 16): Promise<Client[]> {
  const clients: Client[] = [];
  let next = 0;
  const slot = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      for (let attempt = 1; ; attempt++) {
        try {
          clients.push(await Client.open(url, '', i));
          break;
        } catch (err) {
          if (attempt === 5) throw err;
          await sleep(100 * attempt);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: slots }, slot));
  return clients;
}
