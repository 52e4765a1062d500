import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { createClient, type SluiceClient } from '../../src/client/client.js';
import type { Gap, Message, Subscription } from '../../src/client/subscription.js';
import type { WebSocketConstructor } from '../../src/client/transport.js';
import { provisional, type LedgerCounts, type Position } from './ledger.js';

/**
 * The guarantee as the project's client states it to its user (docs/client.md): per
 * subscription, `onMessage` sees increasing seqs, and every seq it skips was reported through
 * `onGap` first — never as `missing`, which would mean the server left a hole unannounced. The
 * subscription's async iterator is held to the same rule (`iterator`: its events are read later,
 * so the epoch they belong to is the one its own gaps moved it to).
 */
class ClientLedger {
  /** Delivered or reported up to here, in `epoch`; undefined before the first event. */
  epoch: string | undefined;
  seq = 0;
  started = false;

  constructor(
    readonly sub: Subscription,
    private readonly fail: (what: string) => void,
    private readonly counts: LedgerCounts,
    private readonly source: 'client' | 'iterator',
  ) {}

  message(m: Message): void {
    this.counts.messages++;
    // An iterator's first message may be read after the subscription moved on: its epoch is known from its first gap on.
    const epoch = this.source === 'client' ? this.sub.epoch! : (this.epoch ?? UNKNOWN);
    if (this.started && (epoch === this.epoch || provisional(this.epoch!)) && m.seq !== this.seq + 1) this.fail(`onMessage ${m.seq} after ${this.seq} without a gap`);
    if (this.started && epoch !== this.epoch && !provisional(this.epoch!)) this.fail(`onMessage ${m.seq} in epoch ${epoch} without a gap naming the change from ${this.epoch}`);
    this.take(epoch, m.seq);
  }

  gap(g: Gap): void {
    this.counts.gaps[`${this.source}:${g.reason}`] = (this.counts.gaps[`${this.source}:${g.reason}`] ?? 0) + 1;
    if (g.reason === 'missing') this.fail(`gap ${g.from}..${g.to} missing: a hole the server never announced`);
    if (g.reason === 'unrecoverable' && this.source === 'client') this.counts.resumes[g.previous === undefined ? 'partial' : 'unrecoverable']++;
    if (g.previous !== undefined) {
      // A provisional position (an iterator's unknown one too) continues into the epoch a recovered resume names without an event.
      if (this.started && ((g.previous.epoch !== this.epoch && !provisional(this.epoch!)) || g.previous.seq !== this.seq)) this.fail(`gap with previous ${g.previous.epoch}/${g.previous.seq} but the subscription stood at ${this.epoch}/${this.seq}`);
    } else if (this.started && ((g.epoch !== this.epoch && !provisional(this.epoch!)) || g.from !== this.seq + 1)) {
      this.fail(`gap ${g.from}..${g.to} (${g.reason}) does not start where the subscription stood (${this.epoch}/${this.seq})`);
    }
    if (Number.isNaN(g.to) || g.to === undefined) this.fail(`gap ${g.from}..${String(g.to)} (${g.reason}) has no end`);
    this.take(g.epoch, g.to);
  }

  /** Where the subscription stands for its user: what it delivered or reported last. */
  position(): Position | undefined {
    if (!this.started) return this.sub.epoch === undefined ? undefined : { epoch: this.sub.epoch, seq: this.sub.lastSeq };
    return { epoch: this.epoch!, seq: this.seq };
  }

  settledAt(at: Position): boolean {
    const p = this.position();
    return p !== undefined && (p.epoch === at.epoch || provisional(p.epoch)) && p.seq === at.seq;
  }

  private take(epoch: string, seq: number): void {
    this.started = true;
    this.epoch = epoch;
    this.seq = seq;
  }
}

/** The epoch of an iterator's events before its first gap names one (provisional: it continues into any). */
const UNKNOWN = '~unknown';

type Ledgers = { readonly client: ClientLedger; readonly iterator: ClientLedger };

/** Events the model client's iterators buffer: a burst read in one go overflows them. */
const ITERATOR_BUFFER = 8;

/**
 * The project's client as a subscriber: reconnects by itself with `since`, and is moved between
 * nodes by routing its next connection attempt elsewhere.
 */
export class ClientSubscriber {
  readonly client: SluiceClient;
  readonly violations: string[] = [];
  readonly closes: number[] = [];
  private readonly subs = new Map<string, Ledgers>();
  private readonly sockets: WebSocket[] = [];
  private target: string;
  /** The server's id of the current connection (from `hello`). */
  conn = '';
  paused = false;

  constructor(
    url: string,
    readonly label: string,
    private readonly counts: LedgerCounts,
  ) {
    this.target = url;
    const route = () => this.target;
    const sockets = this.sockets;
    class Routed extends WebSocket {
      constructor(_url: string, protocols?: string | string[]) {
        super(route(), protocols);
        sockets.push(this);
      }
    }
    this.client = createClient(url, { WebSocket: Routed as unknown as WebSocketConstructor, reconnect: { initialDelayMs: 5, maxDelayMs: 20 }, heartbeat: { intervalMs: 0 } });
    this.client.on('connected', ({ conn }) => (this.conn = conn));
    this.client.on('disconnected', ({ code }) => {
      if (code !== 1006) this.closes.push(code);
    });
  }

  private get tcp(): Socket | undefined {
    return (this.sockets.at(-1) as unknown as { _socket?: Socket } | undefined)?._socket;
  }

  get wanted(): string[] {
    return [...this.subs.keys()];
  }

  has(ch: string): boolean {
    return this.subs.has(ch);
  }

  /**
   * Subscribes with callbacks and reads the subscription's async iterator too, one event per loop
   * turn (a consumer slower than the socket); both streams are checked.
   */
  subscribe(ch: string, recover = true): Subscription {
    let ledgers: Ledgers | undefined = undefined;
    const fail = (what: string) => this.violations.push(`${this.label} ${ch}: ${what}`);
    const sub = this.client.subscribe(ch, {
      recover,
      iteratorBufferSize: ITERATOR_BUFFER,
      onMessage: (m) => ledgers!.client.message(m),
      onGap: (g) => ledgers!.client.gap(g),
      onError: (e) => {
        if (this.subs.get(ch) === ledgers) this.subs.delete(ch);
        if (e.code !== 'unavailable') fail(`subscription refused: ${e.code}`);
      },
    });
    ledgers = { client: new ClientLedger(sub, fail, this.counts, 'client'), iterator: new ClientLedger(sub, (what) => fail(`iterator: ${what}`), this.counts, 'iterator') };
    this.subs.set(ch, ledgers);
    const iterator = ledgers.iterator;
    void (async () => {
      for await (const event of sub) {
        if (event.type === 'message') iterator.message(event);
        else iterator.gap(event);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    return sub;
  }

  unsubscribe(ch: string): void {
    const ledgers = this.subs.get(ch);
    this.subs.delete(ch);
    void ledgers?.client.sub.unsubscribe();
  }

  pause(): void {
    this.paused = true;
    this.tcp?.pause();
  }

  resume(): void {
    this.paused = false;
    this.tcp?.resume();
  }

  /** Where the client reconnects from now on (the gateway restarted on another port), its connection left as it is. */
  retarget(url: string): void {
    this.target = url;
  }

  /** Drops the connection; the client reconnects by itself, to `url`. */
  async moveTo(url: string): Promise<void> {
    this.target = url;
    this.paused = false;
    this.sockets.at(-1)?.terminate();
    await this.connected();
  }

  /** Resolves once the client has connected more than `connects` times and is connected. */
  async reconnected(connects: number): Promise<void> {
    while (this.client.counters.connects <= connects || this.client.state !== 'connected') {
      await new Promise<void>((resolve) => {
        const off = this.client.on('connected', () => {
          off();
          resolve();
        });
      });
    }
  }

  async connected(): Promise<void> {
    if (this.client.state === 'connected') return;
    await new Promise<void>((resolve) => {
      const off = this.client.on('connected', () => {
        off();
        resolve();
      });
    });
  }

  /** Resumes reading and waits for the connection and every subscription's acknowledgement. */
  async restore(): Promise<void> {
    if (this.paused) this.resume();
    await this.connected();
  }

  /** Where the subscription stands for its callbacks and for its iterator. */
  position(ch: string): { client: Position | undefined; iterator: Position | undefined } | undefined {
    const ledgers = this.subs.get(ch);
    return ledgers === undefined ? undefined : { client: ledgers.client.position(), iterator: ledgers.iterator.position() };
  }

  /** Callbacks and iterator alike have accounted for every seq up to `at` (the iterator has read every event). */
  settledAt(ch: string, at: Position): boolean {
    const ledgers = this.subs.get(ch);
    if (ledgers === undefined) return true;
    if (ledgers.client.sub.state !== 'active') return false;
    if (ledgers.client.started && !ledgers.iterator.started) return false;
    return ledgers.client.settledAt(at) && ledgers.iterator.settledAt(at);
  }

  close(): void {
    this.client.close();
  }
}
