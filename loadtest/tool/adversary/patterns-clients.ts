import { Pacer } from '../../../src/client/pacer.js';
import { stalledClients } from '../stalled-clients.js';
import { AttackClient, bump, connectMany, parseFrame, sleep, type AttackTarget, type Tally } from './attack-client.js';

/**
 * Adversary patterns that speak the protocol correctly and abuse it by volume: publish floods to
 * fresh channels, subscription churn, resume storms, subscribers that stop reading, connection
 * floods, crafted channel names. Each is bounded by a count and a deadline.
 */

/** How hard a pattern pushes: `full` for the benchmark table, `short` for the test suite. */
export interface Scale {
  readonly full: boolean;
  /** Upper bound on one pattern's attack phase. */
  readonly seconds: number;
}

export const pick = (s: Scale, full: number, short: number): number => (s.full ? full : short);

/** Policies of the `stall.<policy>` channels the suite's gateway is configured with. */
export const STALL_POLICIES = ['drop-oldest', 'drop-newest', 'conflate', 'disconnect'] as const;
/** The channel rule crafted names are aimed at. */
export const CRAFTED_RULE = '*.*.*.*.prices';

/** The server's default inbound rates: an attacker paces just below them, so that it is never cut off for refusals. */
const RATES = { messagesPerSecond: 1000, bytesPerSecond: 1024 * 1024 };

/** A pacer for one attacking connection, just below the gateway's default rates from the first frame on. */
export function attackPacer(): Pacer {
  const pacer = new Pacer(() => performance.now(), 64 * 1024);
  pacer.activate(RATES);
  return pacer;
}

/**
 * Publishes `frames` with at most `window` unanswered and paced below the rate limit once the
 * gateway refused one; resolves when all are answered, the connection is gone, or at `deadline`.
 */
function publishAll(c: AttackClient, frames: () => string | undefined, window: number, tally: Tally, deadline: number): Promise<void> {
  return new Promise((resolve) => {
    const pacer = attackPacer();
    let inFlight = 0;
    let exhausted = false;
    let waiting = false;
    let nextId = 0;
    let pending: string | undefined;
    const finish = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(finish, Math.max(0, deadline - Date.now()));
    const pump = (): void => {
      while (!waiting && !exhausted && inFlight < window && c.open) {
        pending ??= frames()?.replace('"id":0', `"id":${++nextId}`);
        if (pending === undefined) {
          exhausted = true;
          break;
        }
        const wait = pacer.delay(pending.length);
        if (wait > 0) {
          waiting = true;
          setTimeout(() => {
            waiting = false;
            pump();
          }, wait);
          return;
        }
        inFlight++;
        c.sendTexts([pending]);
        pending = undefined;
      }
      if ((exhausted && inFlight === 0) || !c.open) finish();
    };
    c.onText = (text) => {
      const f = parseFrame(text);
      if (f?.ev === 'ack') {
        inFlight--;
        bump(tally, 'ack');
      } else if (f?.ev === 'err') {
        inFlight--;
        bump(tally, `err ${String(f.code)}`);
      }
      pump();
    };
    void c.closed.then(pump);
    pump();
  });
}

/** Issue 12 item 1: many connections publish large messages, each to a channel nobody ever used. */
export async function publishFlood(t: AttackTarget, s: Scale, tally: Tally): Promise<void> {
  const deadline = Date.now() + s.seconds * 1000;
  const connections = 16;
  const size = 30 * 1024;
  const totalBytes = pick(s, 70, 12) * 1024 * 1024;
  const perConnection = Math.ceil(totalBytes / size / connections);
  const clients = await connectMany(t, tally, connections, connections, deadline);
  const data = JSON.stringify('x'.repeat(size));
  await Promise.all(
    clients.map((c, i) => {
      let n = 0;
      const next = (): string | undefined => (n >= perConnection ? undefined : `{"op":"pub","id":0,"ch":"flood.${i}.${n++}.${Date.now()}","data":${data}}`);
      return publishAll(c, next, 4, tally, deadline);
    }),
  );
  // While the flood's history is held, the publish API says whether the gateway is under pressure.
  bump(tally, `api ${await apiPublish(t, 'flood.api', 'probe')}`);
  for (const c of clients) c.end();
}

/** Issue 12 item 4: subscribe and unsubscribe on ever new channel names. */
export async function subscriptionChurn(t: AttackTarget, s: Scale, tally: Tally): Promise<void> {
  const deadline = Date.now() + s.seconds * 1000;
  const keysBefore = (await t.redisKeys?.()) ?? 0;
  const cycles = pick(s, 20_000, 1_000);
  const clients = await connectMany(t, tally, 4, 4, deadline);
  let started = 0;
  await Promise.all(
    clients.map(
      (c, i) =>
        new Promise<void>((resolve) => {
          const stop = setTimeout(resolve, Math.max(0, deadline - Date.now()));
          const pacer = attackPacer();
          let ch = '';
          /** Sends a request once the pacer allows it. */
          const send = (request: object): void => {
            const wait = pacer.delay(64);
            if (wait > 0) setTimeout(() => send(request), wait);
            else c.send(request);
          };
          const next = (): void => {
            if (started >= cycles || !c.open || Date.now() > deadline) {
              clearTimeout(stop);
              resolve();
              return;
            }
            started++;
            ch = `churn.${i}.${started}.${Date.now()}`;
            send({ op: 'sub', ch, id: 1 });
          };
          c.onText = (text) => {
            const f = parseFrame(text);
            if (f?.ev === 'err') {
              bump(tally, `err ${String(f.code)}`);
              if (f.code !== 'rate_limited') return next();
              // Sent again: an unsub that did not go through leaves the channel subscribed.
              send(f.id === 2 ? { op: 'unsub', ch, id: 2 } : { op: 'sub', ch, id: 1 });
            } else if (f?.id === 1) send({ op: 'unsub', ch, id: 2 });
            else if (f?.id === 2) {
              bump(tally, 'cycle');
              next();
            }
          };
          void c.closed.then(() => resolve());
          next();
        }),
    ),
  );
  for (const c of clients) c.end();
  if (t.redisKeys !== undefined) bump(tally, 'redis keys left', (await t.redisKeys()) - keysBefore);
}

/** 1,000 clients resume a full history from seq 0 at the same moment. */
export async function resumeStorm(t: AttackTarget, s: Scale, tally: Tally): Promise<void> {
  const deadline = Date.now() + s.seconds * 1000;
  const ch = `storm.${Date.now()}`;
  const setup: Tally = {};
  const publisher = await AttackClient.connect(t, setup);
  if (publisher === undefined) {
    bump(tally, 'setup refused');
    return;
  }
  const epoch = await new Promise<string>((resolve) => {
    publisher.onText = (text) => {
      const f = parseFrame(text);
      if (f?.ev === 'ack' && typeof f.epoch === 'string') resolve(f.epoch);
    };
    publisher.send({ op: 'sub', ch, id: 1 });
  });
  const history = 100;
  const data = JSON.stringify('h'.repeat(2048));
  let n = 0;
  await publishAll(publisher, () => (n++ < history ? `{"op":"pub","id":0,"ch":"${ch}","data":${data}}` : undefined), 16, setup, deadline);
  // The clock of the storm itself starts once the history is in place.
  const stormEnds = Date.now() + s.seconds * 1000;
  const clients = await connectMany(t, tally, pick(s, 1000, 100), 100, stormEnds);
  let complete = 0;
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, Math.max(1000, stormEnds - Date.now()));
    for (const c of clients) {
      let received = 0;
      c.onText = (text) => {
        if (text.startsWith('{"ev":"msg"') && ++received === history && ++complete === clients.length) {
          clearTimeout(timer);
          resolve();
        } else if (!text.startsWith('{"ev":"msg"')) {
          const f = parseFrame(text);
          if (f?.ev === 'ack') bump(tally, f.recovered === true ? 'recovered' : 'unrecovered');
          else if (f?.ev === 'err') bump(tally, `err ${String(f.code)}`);
        }
      };
    }
  });
  const sub = JSON.stringify({ op: 'sub', ch, id: 1, since: { epoch, seq: 0 } });
  for (const c of clients) c.sendTexts([sub]);
  await done;
  bump(tally, 'replayed in full', complete);
  for (const c of [publisher, ...clients]) c.end();
}

/** Subscribers that never read (receive buffers capped), on a channel of every policy, while each channel is published to. */
export async function stalledSubscribers(t: AttackTarget, s: Scale, tally: Tally): Promise<void> {
  const perPolicy = pick(s, 20, 5);
  const size = 8 * 1024;
  const perChannel = Math.ceil((pick(s, 4, 1) * 1024 * 1024) / size);
  const data = JSON.stringify('s'.repeat(size));
  const stalled = await stalledClients(t.port, perPolicy * STALL_POLICIES.length, STALL_POLICIES.map((p) => JSON.stringify({ op: 'sub', ch: `stall.${p}` })));
  try {
    // The clock starts once the stalled clients are in (a loaded machine starts a Python process slowly).
    const deadline = Date.now() + s.seconds * 1000;
    const publishers = await connectMany(t, {}, STALL_POLICIES.length, STALL_POLICIES.length, deadline);
    await Promise.all(
      publishers.map((p, i) => {
        let n = 0;
        const ch = `stall.${STALL_POLICIES[i]}`;
        return publishAll(p, () => (n < perChannel ? `{"op":"pub","id":0,"ch":"${ch}","key":"k${n++ % 4}","data":${data}}` : undefined), 32, tally, deadline);
      }),
    );
    await sleep(500);
    for (const p of publishers) p.end();
  } finally {
    stalled.kill();
  }
}

/**
 * Receive-window abuse (docs/protocol.md, `window`): clients that ask for the smallest window on a
 * busy channel and then read without ever reporting (the gateway holds what they are owed in its
 * bounded queues and sheds the rest), and clients that report totals they never received, or
 * totals going back, as fast as the rate limit allows (each answered `bad_window`, costing a frame).
 */
export async function windowAbuse(t: AttackTarget, s: Scale, tally: Tally): Promise<void> {
  const deadline = Date.now() + s.seconds * 1000;
  const n = pick(s, 40, 8);
  const size = 8 * 1024;
  const perChannel = Math.ceil((pick(s, 4, 1) * 1024 * 1024) / size);
  const clients = await connectMany(t, {}, n, 16, deadline);
  const ch = `stall.${STALL_POLICIES[0]}`;
  for (const c of clients) c.sendTexts([`{"op":"window","id":"w","bytes":16384}`, `{"op":"sub","ch":"${ch}"}`]);
  const liars = clients.slice(0, clients.length >> 1);
  const [publisher] = await connectMany(t, {}, 1, 1, deadline);
  const data = JSON.stringify('w'.repeat(size));
  let published = 0;
  let lies = 0;
  const lieCount = pick(s, 2000, 200);
  await Promise.all([
    publisher === undefined ? Promise.resolve() : publishAll(publisher, () => (published++ < perChannel ? `{"op":"pub","id":0,"ch":"${ch}","data":${data}}` : undefined), 32, {}, deadline),
    // Alternately a total never written (refused) and 0 (accepted: nothing was reported before).
    ...liars.map((c) => publishAll(c, () => (lies++ < lieCount * liars.length ? `{"op":"recv","id":0,"bytes":${lies % 2 === 0 ? Number.MAX_SAFE_INTEGER : 0}}` : undefined), 8, tally, deadline)),
  ]);
  publisher?.end();
  for (const c of clients) c.end();
}

/** As many connections from one address as the gateway takes, held a moment. */
export async function connectionFlood(t: AttackTarget, s: Scale, tally: Tally): Promise<void> {
  const deadline = Date.now() + s.seconds * 1000;
  const clients = await connectMany(t, tally, pick(s, 3000, 300), 64, deadline);
  await sleep(pick(s, 2000, 300));
  let open = 0;
  for (const c of clients) if (c.open) open++;
  bump(tally, 'held open', open);
  for (const c of clients) c.end();
}

/** Channel names built to make a backtracking matcher of `*.*.*.*.prices` take long. */
export async function craftedNames(t: AttackTarget, s: Scale, tally: Tally): Promise<void> {
  const deadline = Date.now() + s.seconds * 1000;
  const count = pick(s, 200, 20);
  const c = await AttackClient.connect(t, tally);
  if (c === undefined) return;
  let n = 0;
  const name = (i: number): string => `${'a.'.repeat(58)}${i.toString(36).padStart(6, '0')}.price`.slice(0, 128);
  await publishAll(c, () => (n < count ? `{"op":"pub","id":0,"ch":"${name(n++)}","data":1}` : undefined), 4, tally, deadline);
  c.end();
}

/** POSTs one publication to the HTTP publish API; returns the status (0 when the request failed). */
export async function apiPublish(t: AttackTarget, ch: string, data: unknown): Promise<number> {
  try {
    const res = await fetch(`http://${t.host}:${t.port}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ch, data }),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}
