import WebSocket from 'ws';

/** A raw subscriber or publisher of the market benchmark: counts what it receives, parses nothing on the hot path. */
export interface Counted {
  readonly ws: WebSocket;
  /** Bytes of every frame received, and `msg` frames received. */
  bytes: number;
  msgs: number;
  /** Set while a request waits for its answer (frames are decoded as text only then). */
  onFrame: ((text: string) => void) | undefined;
}

/** Every wait of the benchmark is bounded. */
const WAIT_MS = 120_000;

const MSG = Buffer.from('{"ev":"msg"');

export async function open(url: string): Promise<Counted> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const c: Counted = { ws, bytes: 0, msgs: 0, onFrame: undefined };
  ws.on('message', (data: Buffer) => {
    c.bytes += data.length;
    if (data.compare(MSG, 0, MSG.length, 0, MSG.length) === 0) c.msgs++;
    c.onFrame?.(data.toString());
  });
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  return c;
}

/** Sends a frame and resolves once a received frame satisfies `done` (at most WAIT_MS). */
export function request(c: Counted, frame: Record<string, unknown>, done: (text: string) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to ${JSON.stringify(frame).slice(0, 80)} in ${WAIT_MS} ms`)), WAIT_MS);
    c.onFrame = (text) => {
      if (!done(text)) return;
      clearTimeout(timer);
      c.onFrame = undefined;
      resolve();
    };
    c.ws.send(JSON.stringify(frame));
  });
}

/** Publishes `count` keyed values to `ch`, 500 at a time, each batch confirmed by a ping. */
export async function publishAll(pub: Counted, ch: string, count: number, perKey: (i: number) => [string, string]): Promise<void> {
  for (let i = 0; i < count; i += 500) {
    for (let j = i; j < Math.min(count, i + 500); j++) {
      const [key, data] = perKey(j);
      pub.ws.send(`{"op":"pub","ch":"${ch}","key":"${key}","data":${data}}`);
    }
    await request(pub, { op: 'ping', id: `p${i}` }, (t) => t.includes(`"p${i}"`));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
