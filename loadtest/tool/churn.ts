import type { Histogram } from 'hdr-histogram-js';
import { bump, type Counters } from './counters.js';
import type { ChurnPlan } from './plan.js';
import { WireClient, type WireHandler } from '../../devkit/wire-client.js';

export interface ChurnContext {
  readonly url: URL;
  readonly connectTimeoutMs: number;
  readonly counters: Counters;
  /** Connect → subscribe-ack time in microseconds. */
  readonly connect: Histogram;
  now(): number;
}

/** Cycles per churn slot at most, so a very fast server cannot make the loop unbounded. */
const MAX_CYCLES_PER_SLOT = 100_000;

/**
 * Connection storms against a Sluice server: each slot loops connect → hello → subscribe → ack →
 * close, as fast as the server answers, until `until`.
 */
export class ChurnSlot implements WireHandler {
  private wire: WireClient | undefined;
  private startedAt = 0;
  private cycles = 0;
  private until = 0;
  private done: (() => void) | undefined;

  constructor(
    private readonly plan: ChurnPlan,
    private readonly ctx: ChurnContext,
    private readonly index: number,
  ) {}

  run(until: number): Promise<void> {
    this.until = until;
    return new Promise((resolve) => {
      this.done = resolve;
      this.next();
    });
  }

  onOpen(): void {
    this.ctx.counters.connectsOk++;
  }

  onFrame(buf: Buffer, start: number, end: number): void {
    const c = buf[start + 7];
    if (c === 0x68 /* hello */) {
      const ch = this.plan.channels[(this.index + this.cycles) % this.plan.channels.length]!;
      this.wire?.sendText(`{"op":"sub","ch":"${ch}","id":1}`);
    } else if (c === 0x61 /* ack */) {
      this.ctx.connect.recordValue(Math.max(1, Math.round((this.ctx.now() - this.startedAt) * 1000)));
      this.ctx.counters.churnCycles++;
      this.wire?.close();
    } else if (c === 0x65 /* err */) {
      bump(this.ctx.counters.errorsByCode, String((JSON.parse(buf.toString('utf8', start, end)) as { code: string }).code));
      this.wire?.close();
    }
  }

  onClose(code: number): void {
    if (code === 0) this.ctx.counters.connectsFailed++;
    else bump(this.ctx.counters.closesByCode, code);
    this.wire = undefined;
    this.next();
  }

  stop(): void {
    this.until = 0;
    this.wire?.destroy();
  }

  private next(): void {
    if (this.ctx.now() >= this.until || ++this.cycles > MAX_CYCLES_PER_SLOT) {
      this.done?.();
      this.done = undefined;
      return;
    }
    this.startedAt = this.ctx.now();
    this.wire = new WireClient(this);
    this.wire.connect(this.ctx.url, '/', this.ctx.connectTimeoutMs);
  }
}
