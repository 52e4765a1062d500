import { TestClient, type Frame } from '../helpers/client.js';
import { ChannelLedger, emptyCounts, type LedgerCounts, type Position } from './ledger.js';

type Request = { readonly op: 'sub'; readonly ch: string; readonly since: Position | undefined } | { readonly op: 'unsub'; readonly ch: string } | { readonly op: 'ping' };
type Pending = { readonly request: Request; readonly resolve: (reply: Frame) => void };

/**
 * A raw-frame subscriber whose every frame is checked against the guarantee as it arrives: one
 * ChannelLedger per channel, fed the channel's `msg` and `gap` frames and the replies to this
 * subscriber's own `sub` and `unsub` requests. It may reconnect (to any node) and resume every
 * channel it wants with `since`, as a client following docs/protocol.md does.
 */
export class RawSubscriber {
  private readonly ledgers = new Map<string, ChannelLedger>();
  private readonly pending = new Map<number, Pending>();
  /** Channels this subscriber means to be subscribed to (requests sent, in order). */
  readonly wanted = new Set<string>();
  private nextId = 1_000_000;
  private replies: Array<Promise<Frame>> = [];
  /** Close codes the server sent this subscriber (4100 and friends). */
  readonly closes: number[] = [];
  client!: TestClient;
  /** The server's id of the current connection (from `hello`). */
  conn = '';
  paused = false;
  /**
   * With a receive window (docs/protocol.md, `window`): the window request's id on this connection,
   * the count since its ack (undefined before it) and the last total reported.
   */
  private window: { id: number; count: number | undefined; reported: number } | undefined;
  /** Answers the server gave this subscriber that no correct client gets (`bad_window`: its count and the server's differ). */
  private readonly refusals: string[] = [];

  private constructor(
    readonly label: string,
    private readonly counts: LedgerCounts,
    /** Asks every connection for a receive window of this many bytes and reports as it reads. */
    private readonly windowBytes: number | undefined,
  ) {}

  static async connect(url: string, label: string, counts: LedgerCounts = emptyCounts(), windowBytes?: number): Promise<RawSubscriber> {
    const sub = new RawSubscriber(label, counts, windowBytes);
    await sub.open(url);
    return sub;
  }

  get closed(): boolean {
    return this.client.closeCode !== undefined;
  }

  ledger(ch: string): ChannelLedger {
    let ledger = this.ledgers.get(ch);
    if (ledger === undefined) {
      ledger = new ChannelLedger(ch, this.label, this.counts);
      this.ledgers.set(ch, ledger);
    }
    return ledger;
  }

  get violations(): string[] {
    return [...this.ledgers.values()].flatMap((l) => l.violations).concat(this.refusals);
  }

  /**
   * Resolves once the channel's subscription stands at `position` (everything before it delivered
   * or announced) or a violation was found; the timeout names where it stands.
   */
  async settle(ch: string, position: Position, timeoutMs = 20_000): Promise<void> {
    const ledger = this.ledger(ch);
    const done = () => ledger.settledAt(position) || this.violations.length > 0;
    try {
      await this.client.until(done, timeoutMs, 'settled');
    } catch {
      throw new Error(`${this.label} ${ch}: stands at ${JSON.stringify(ledger.position)}, expected ${JSON.stringify(position)}`);
    }
  }

  /** Sends `sub` (with `since` when given) without waiting; resolves with the reply. */
  sub(ch: string, since?: Position): Promise<Frame> {
    this.wanted.add(ch);
    return this.send({ op: 'sub', ch, ...(since === undefined ? {} : { since }) }, { op: 'sub', ch, since });
  }

  unsub(ch: string): Promise<Frame> {
    this.wanted.delete(ch);
    return this.send({ op: 'unsub', ch }, { op: 'unsub', ch });
  }

  /** `unsub`, then at once `sub` with `since` where the subscription stood when the unsub was sent. */
  resub(ch: string): Promise<Frame> {
    const at = this.ledger(ch).position;
    void this.unsub(ch);
    return this.sub(ch, at);
  }

  pause(): void {
    this.paused = true;
    this.client.tcp.pause();
  }

  resume(): void {
    this.paused = false;
    this.client.tcp.resume();
  }

  /** Drops the connection (no close frame), connects to `url` and resumes every wanted channel. */
  async reconnect(url: string): Promise<void> {
    this.client.terminate();
    await this.client.closed();
    await this.open(url);
    for (const ch of this.wanted) void this.sub(ch, this.ledger(ch).lastPosition);
  }

  /** Resumes reading, reconnects if the server closed the connection, re-sends refused subscriptions. */
  async restore(url: string): Promise<void> {
    if (this.paused) this.resume();
    await this.replied();
    // Everything the server sent before this round trip (a close among it) has been read.
    if (!this.closed) await this.send({ op: 'ping' }, { op: 'ping' });
    if (this.closed) await this.reconnect(url);
    await this.replied();
    for (const ch of this.wanted) if (!this.ledger(ch).subscribed) void this.sub(ch, this.ledger(ch).lastPosition);
    await this.replied();
  }

  /** Waits for the replies to every request sent so far (those of a dropped connection never come). */
  async replied(): Promise<void> {
    const replies = this.replies;
    this.replies = [];
    await Promise.all(replies);
  }

  terminate(): void {
    this.client.terminate();
  }

  private async open(url: string): Promise<void> {
    const client = await TestClient.connect(url);
    this.client = client;
    this.paused = false;
    // Ahead of the client's own listener, so a waiter sees the ledger after the frame.
    client.ws.prependListener('message', (data) => {
      const f = JSON.parse(data.toString()) as Frame;
      this.counted(f, (data as Buffer).length);
      this.onFrame(f);
    });
    this.conn = String((await client.next((f) => f.ev === 'hello')).conn);
    this.window = undefined;
    if (this.windowBytes !== undefined) {
      // Before any subscription (a reconnect re-subscribes after this): the ack comes first in its frame.
      this.window = { id: this.nextId++, count: undefined, reported: 0 };
      client.send({ op: 'window', bytes: this.windowBytes, id: this.window.id });
    }
    client.ws.on('close', (code) => {
      if (code !== 1006) this.closes.push(code);
      for (const p of this.pending.values()) p.resolve({ ev: 'closed', code });
      this.pending.clear();
      for (const ledger of this.ledgers.values()) ledger.end();
    });
  }

  /** The reply, or `{ ev: 'closed' }` if the connection ends first. */
  private send(frame: Record<string, unknown>, request: Request): Promise<Frame> {
    const id = this.nextId++;
    const reply = new Promise<Frame>((resolve) => {
      if (this.closed) resolve({ ev: 'closed', code: this.client.closeCode });
      else this.pending.set(id, { request, resolve });
    });
    this.client.send({ ...frame, id });
    this.replies.push(reply);
    return reply;
  }

  /** Counts a frame as the protocol says (from the window's ack on: its bytes + 1) and reports every half window. */
  private counted(f: Frame, bytes: number): void {
    const w = this.window;
    if (w === undefined) return;
    if (w.count === undefined) {
      if (f.ev !== 'ack' || f.id !== w.id) return;
      w.count = 0;
    }
    w.count += bytes + 1;
    if (f.ev === 'err' && f.code === 'bad_window') this.refusals.push(`${this.label}: bad_window (${String(f.msg)}) at count ${w.count}, reported ${w.reported}`);
    if (w.count - w.reported >= this.windowBytes! / 2) {
      w.reported = w.count;
      this.client.send({ op: 'recv', bytes: w.count });
    }
  }

  private onFrame(f: Frame): void {
    if (f.ev === 'msg' || f.ev === 'gap') {
      this.ledger(String(f.ch)).frame(f);
      return;
    }
    if (typeof f.id !== 'number') return;
    const pending = this.pending.get(f.id);
    if (pending === undefined || (f.ev !== 'ack' && f.ev !== 'err' && f.ev !== 'pong')) return;
    this.pending.delete(f.id);
    const { request } = pending;
    if (request.op === 'ping') {
      pending.resolve(f);
      return;
    }
    const ledger = this.ledger(request.ch);
    if (f.ev === 'ack') {
      if (request.op === 'sub') ledger.acknowledged(f, request.since);
      else ledger.unsubscribed();
    } else if (f.code === 'already_subscribed' || (f.code === 'not_subscribed' && ledger.subscribed)) {
      // Requests act in the order sent: the server's view must be the one those requests imply.
      ledger.refused(`${request.op} refused with ${String(f.code)}`);
    }
    pending.resolve(f);
  }
}
