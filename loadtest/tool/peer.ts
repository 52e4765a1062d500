import type { Histogram } from 'hdr-histogram-js';
import { bump, type Counters } from './counters.js';
import type { ClientPlan, Dialect, PublishPlan, VerifyRecord } from './plan.js';
import { BATCH_PROTOCOL, WireClient, type WireHandler } from '../../devkit/wire-client.js';
import { ReceiveWindow, WINDOW_ID } from '../../devkit/receive-window.js';

/** Everything the clients of one worker share. */
export interface PeerContext {
  readonly url: URL;
  readonly dialect: Dialect;
  /** Offer `sluice.batch` when connecting. */
  readonly batch: boolean;
  /** The subscribing clients' receive window in bytes (docs/protocol.md, `window`); 0: none. */
  readonly windowBytes: number;
  readonly connectTimeoutMs: number;
  readonly counters: Counters;
  /** End-to-end latency in microseconds, from the sampled messages sent in the measured run. */
  readonly latency: Histogram;
  /** The same, of the messages sent in the warm-up before it. */
  readonly warmLatency: Histogram;
  /** The same samples since the worker's last progress report (emptied at each), for the run's per-second latency. */
  readonly recent: Histogram;
  readonly acceptedByChannel: Record<string, number>;
  readonly maxSeqByChannel: Record<string, number>;
  /** Wall-clock milliseconds, comparable across worker threads. */
  now(): number;
  /** Set once the run is over: closes are then expected and nothing reconnects. */
  finished: boolean;
}

const MAX_RECONNECTS = 50;
const MAX_SENDS_PER_TICK = 2000;
const CH_M = 0x6d;

interface ChannelState {
  epoch: string;
  startSeq: number;
  lastSeq: number;
  received: number;
  /** Seqs up to here may be missing: a gap frame announced them. */
  gapTo: number;
  acked: boolean;
}

/**
 * One load-generating client: connects, subscribes, publishes on the worker's tick, counts what
 * arrives (parsing only timestamped samples unless it verifies), and — when verifying — resumes
 * with `since` after a drop.
 */
export class Peer implements WireHandler {
  private wire: WireClient | undefined;
  /** The current connection's receive window (a subscriber's, when the run asks for one): counted per connection. */
  private window: ReceiveWindow | undefined;
  private readonly channels = new Map<string, ChannelState>();
  /** Channels still to subscribe, one request in flight at a time (a burst could exceed the bucket). */
  private toSubscribe: string[] = [];
  private ready = false;
  private onReady: ((ok: boolean) => void) | undefined;
  private reconnects = 0;
  private sent = 0;
  /** Publications on the current connection still waiting for their ack or err. */
  private awaiting = 0;
  private nextDrop = 0;
  /** The close under way was ordered by the plan, not done to us. */
  private dropping = false;
  private publishFrom = 0;
  private publishUntil = 0;
  /** When the measured run starts: a slow client stops reading then, and samples sent earlier are the warm-up's. */
  private measureFrom = 0;
  private stoppedReading = false;
  private readonly pubPrefix: string[] = [];
  private readonly pad: string;

  constructor(
    private readonly plan: ClientPlan,
    private readonly ctx: PeerContext,
  ) {
    for (const ch of plan.subscribe) this.channels.set(ch, { epoch: '', startSeq: -1, lastSeq: 0, received: 0, gapTo: 0, acked: false });
    const pub = plan.publish;
    this.pad = pub === undefined ? '' : 'x'.repeat(Math.max(0, pub.size - 8));
    if (pub !== undefined) for (const ch of pub.channels) this.pubPrefix.push(`{"op":"pub","ch":"${ch}","id":`);
  }

  /** Connects and subscribes; resolves true once ready, false if it could not. */
  connect(): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.onReady === undefined) return;
        this.settle(false);
        this.wire?.destroy();
      }, 2 * this.ctx.connectTimeoutMs);
      this.onReady = (ok) => {
        clearTimeout(timer);
        resolve(ok);
      };
      this.open();
    });
  }

  /** Publishing phase boundaries (wall-clock ms); without a warm-up (`measureFrom` ≤ `from`) a slow client stops reading now, else on the first tick from `measureFrom`. */
  start(from: number, measureFrom: number, until: number): void {
    this.publishFrom = from;
    this.measureFrom = measureFrom;
    this.publishUntil = until;
    if (measureFrom <= from) this.stopReadingIfSlow();
  }

  private stopReadingIfSlow(): void {
    if (!this.plan.slow) return;
    this.stoppedReading = true;
    this.wire?.pause();
    // It reads nothing more, so it reports nothing more: the server holds its stream at the window.
    this.window?.stop();
  }

  /** Called by the worker's timer: sends the publications now due, and performs scheduled drops. */
  tick(now: number): void {
    if (this.plan.slow && !this.stoppedReading && now >= this.measureFrom) this.stopReadingIfSlow();
    const drops = this.plan.dropAtMs;
    if (drops !== undefined && this.nextDrop < drops.length && now - this.publishFrom >= drops[this.nextDrop]!) {
      this.nextDrop++;
      this.dropping = true;
      this.wire?.destroy();
    }
    const pub = this.plan.publish;
    if (pub === undefined || now < this.publishFrom || !this.ready || !this.wire?.isOpen) return;
    const total = Math.floor(((this.publishUntil - this.publishFrom) * pub.rate) / 1000);
    const due = Math.min(total, Math.floor(((Math.min(now, this.publishUntil) - this.publishFrom) * pub.rate) / 1000));
    let n = Math.min(due - this.sent, MAX_SENDS_PER_TICK);
    if (n <= 0) return;
    const frames: string[] = [];
    while (n-- > 0) frames.push(this.encodePub(pub, this.sent++, now));
    this.wire.sendTexts(frames);
    this.ctx.counters.pubSent += frames.length;
    if (this.ctx.dialect === 'sluice') this.awaiting += frames.length;
    else this.ctx.counters.pubAccepted += frames.length;
  }

  finish(): void {
    this.wire?.close();
  }

  verifyRecords(): VerifyRecord[] {
    if (!this.plan.verify) return [];
    return [...this.channels].map(([ch, s]) => ({ ch, startSeq: s.startSeq, lastSeq: s.lastSeq, received: s.received }));
  }

  // ---- WireHandler ----

  onOpen(): void {
    this.ctx.counters.connectsOk++;
    if (this.ctx.dialect === 'socketio') return; // waits for the engine.io open packet
    if (this.ctx.dialect === 'raw') this.becomeReady();
    // sluice: subscribe after hello
  }

  onFrame(buf: Buffer, start: number, end: number): void {
    switch (this.ctx.dialect) {
      case 'sluice':
        this.window?.frame(buf, start, end);
        if (buf[start + 7] === CH_M) this.onMessage(buf, start, end);
        else this.onControl(JSON.parse(buf.toString('utf8', start, end)) as Record<string, unknown>);
        return;
      case 'raw':
        this.onMessage(buf, start, end);
        return;
      case 'socketio':
        this.onEngineIo(buf, start, end);
    }
  }

  onClose(code: number): void {
    const counters = this.ctx.counters;
    if (code === 0) counters.connectsFailed++;
    else bump(counters.closesByCode, code);
    this.wire = undefined;
    counters.pubUnanswered += this.awaiting;
    this.awaiting = 0;
    if (this.ctx.finished) return;
    if (code !== 0 && !this.dropping) counters.unexpectedCloses++;
    this.dropping = false;
    if (this.plan.verify && this.reconnects < MAX_RECONNECTS && (this.ready || code === 0)) {
      this.reconnects++;
      counters.reconnects++;
      this.ready = false;
      setTimeout(() => this.open(), 20 + Math.random() * 80);
      return;
    }
    if (!this.ready) this.settle(false);
  }

  // ---- internals ----

  private open(): void {
    if (this.ctx.finished) return;
    // Frames are counted for the clients that only subscribe: a publisher's acks would blur events per frame.
    // A slow client's frames are left out too: its deliveries are not in `deliveries`.
    const wire = new WireClient(this, this.plan.publish === undefined && !this.plan.slow ? this.ctx.counters : undefined);
    this.wire = wire;
    this.window = this.ctx.windowBytes > 0 && this.ctx.dialect === 'sluice' && this.plan.subscribe.length > 0 ? new ReceiveWindow(this.ctx.windowBytes, (text) => wire.sendText(text), this.ctx.counters) : undefined;
    if (this.stoppedReading) this.window?.stop();
    const path = this.ctx.dialect === 'socketio' ? `/socket.io/?EIO=4&transport=websocket&role=${this.role}` : `/${this.role}`;
    this.wire.connect(this.ctx.url, path, this.ctx.connectTimeoutMs, this.ctx.batch ? [BATCH_PROTOCOL] : []);
  }

  private get role(): 'sub' | 'pub' {
    return this.plan.subscribe.length > 0 ? 'sub' : 'pub';
  }

  private becomeReady(): void {
    this.ready = true;
    if (this.stoppedReading) this.wire?.pause();
    this.settle(true);
  }

  private settle(ok: boolean): void {
    const resolve = this.onReady;
    this.onReady = undefined;
    resolve?.(ok);
  }

  private subscribeAll(): void {
    this.toSubscribe = [...this.channels.keys()];
    this.subscribeNext();
  }

  private subscribeNext(): void {
    const ch = this.toSubscribe[0];
    if (ch === undefined) {
      this.becomeReady();
      return;
    }
    const s = this.channels.get(ch)!;
    s.acked = false;
    const since = this.plan.verify && s.epoch !== '' ? `,"since":{"epoch":"${s.epoch}","seq":${s.lastSeq}}` : '';
    if (since !== '') this.ctx.counters.resumes++;
    this.wire?.sendText(`{"op":"sub","ch":"${ch}","id":"s${ch}"${since}}`);
  }

  private encodePub(pub: PublishPlan, n: number, now: number): string {
    const t = n % pub.sampleEvery === 0 ? `,"t":${now.toFixed(3)}` : '';
    const data = `{"p":"${this.pad}"${t}}`;
    if (this.ctx.dialect === 'socketio') return `42["pub",${data}]`;
    const i = n % this.pubPrefix.length;
    const key = pub.keys > 0 ? `,"key":"k${n % pub.keys}"` : '';
    return `${this.pubPrefix[i]}${n}${key},"data":${data}}`;
  }

  private onMessage(buf: Buffer, start: number, end: number): void {
    const counters = this.ctx.counters;
    if (this.plan.slow) {
      counters.deliveriesToSlow++;
      return;
    }
    counters.deliveries++;
    counters.deliveredBytes += end - start;
    if (this.plan.verify) {
      this.verifyMessage(JSON.parse(buf.toString('utf8', start, end)) as { ch: string; seq: number; data: { t?: number } });
      return;
    }
    // The timestamp, when present, is the last member of `data`: read the digits back from the end.
    // In a batch frame this is the event's own end (the wire client found it), so every timestamped
    // message is sampled wherever it sits in its batch: the samples are the same messages as without
    // batching. Sampling only a batch's last event would favour the freshest message of each turn.
    let i = end - 1;
    while (i > start && (buf[i] === 0x7d || buf[i] === 0x5d)) i--;
    const c = buf[i]!;
    if (c < 0x30 || c > 0x39) return;
    let j = i;
    while (j > start && buf[j] !== 0x3a) j--;
    this.record(Number(buf.toString('latin1', j + 1, i + 1)));
  }

  private record(sentAt: number): void {
    if (this.plan.slow) return;
    this.ctx.counters.sampled++;
    const us = Math.max(1, Math.round((this.ctx.now() - sentAt) * 1000));
    (sentAt < this.measureFrom ? this.ctx.warmLatency : this.ctx.latency).recordValue(us);
    this.ctx.recent.recordValue(us);
  }

  private verifyMessage(msg: { ch: string; seq: number; data: { t?: number } }): void {
    const s = this.channels.get(msg.ch);
    if (s === undefined) return;
    const counters = this.ctx.counters;
    s.received++;
    if (msg.seq <= s.lastSeq) counters.duplicates++;
    else if (msg.seq > s.lastSeq + 1 && msg.seq - 1 > s.gapTo) counters.missing += msg.seq - 1 - Math.max(s.lastSeq, s.gapTo);
    if (!s.acked) counters.outOfOrder++;
    if (msg.seq > s.lastSeq) s.lastSeq = msg.seq;
    if (typeof msg.data?.t === 'number') this.record(msg.data.t);
  }

  private onControl(frame: Record<string, unknown>): void {
    const counters = this.ctx.counters;
    switch (frame.ev) {
      case 'hello':
        // The window first: its ack comes before any reply to a `sub`, and so before any message.
        if (this.window !== undefined) this.wire?.sendText(this.window.request);
        this.subscribeAll();
        return;
      case 'ack': {
        if (frame.id === WINDOW_ID) return; // counted by the window, which saw it first
        if (typeof frame.id === 'number') {
          counters.pubAccepted++;
          this.awaiting--;
          const ch = frame.ch as string;
          bump(this.ctx.acceptedByChannel, ch);
          if ((frame.seq as number) > (this.ctx.maxSeqByChannel[ch] ?? 0)) this.ctx.maxSeqByChannel[ch] = frame.seq as number;
          return;
        }
        this.onSubAck(frame);
        return;
      }
      case 'err':
        bump(counters.errorsByCode, frame.code as string);
        if (!this.ready) {
          // The subscribe in flight was refused: retry it when the bucket allows, give up otherwise.
          if (frame.code === 'rate_limited') setTimeout(() => this.subscribeNext(), (frame.retryMs as number | undefined) ?? 100);
          else this.wire?.close();
        } else if (frame.code === 'rate_limited') {
          // Refused before it was read, so without an id; frames are answered in order, so it was a publication.
          counters.pubRateLimited++;
          this.awaiting--;
        } else if (typeof frame.id === 'number') {
          counters.pubOtherErrors++;
          this.awaiting--;
        }
        return;
      case 'gap': {
        counters.gapFrames++;
        const n = frame.n as number;
        if (frame.reason === 'conflated') counters.gapConflated += n;
        else if (frame.reason === 'expired') counters.gapExpired += n;
        else counters.gapDropped += n;
        const s = this.channels.get(frame.ch as string);
        if (s !== undefined && (frame.to as number) > s.gapTo) s.gapTo = frame.to as number;
        return;
      }
    }
  }

  private onSubAck(frame: Record<string, unknown>): void {
    const s = this.channels.get(frame.ch as string);
    if (s === undefined) return;
    const seq = frame.seq as number;
    if (s.startSeq < 0) {
      s.startSeq = seq;
      s.lastSeq = seq;
    } else if (frame.recovered === false) {
      this.ctx.counters.resumesUnrecovered++;
      s.lastSeq = seq;
    }
    s.epoch = frame.epoch as string;
    s.acked = true;
    this.toSubscribe.shift();
    this.subscribeNext();
  }

  /** Engine.IO v4 over WebSocket: `0` open, `2` ping, `40` namespace connected, `42[...]` an event. */
  private onEngineIo(buf: Buffer, start: number, end: number): void {
    const c0 = buf[start];
    if (c0 === 0x34 /* 4 */) {
      if (buf[start + 1] === 0x32 /* 2 */) this.onMessage(buf, start, end);
      else if (buf[start + 1] === 0x30 /* 0 */ && !this.ready) this.becomeReady();
    } else if (c0 === 0x32 /* 2: ping */) {
      this.wire?.sendText('3');
    } else if (c0 === 0x30 /* 0: open */) {
      this.wire?.sendText('40');
    }
  }
}
