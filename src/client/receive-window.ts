import { utf8Length } from './publish-queue.js';

/**
 * The client's receive window (docs/protocol.md, `window`, `recv`; docs/client.md,
 * `receiveWindowBytes`): what the current connection received since the window's ack, counted as
 * the server counts what it wrote (every event's UTF-8 bytes plus one), reported whenever it has
 * grown by half the window since the last report.
 */
export class ReceiveWindow {
  /** Counted since the ack of the current connection's window; undefined until that ack. */
  private total: number | undefined;
  private reported = 0;
  /** The window the server granted (its ack's `window`). */
  private granted = 0;

  constructor(
    /** The window asked for on every connection. */
    readonly bytes: number,
    private readonly report: (total: number) => void,
  ) {
    if (!Number.isSafeInteger(bytes) || bytes < 1) throw new RangeError('receiveWindowBytes must be a positive integer');
  }

  /** The current connection's window once acknowledged: the bytes counted since its ack, and the latest total reported. */
  get position(): { readonly bytes: number; readonly received: number; readonly reported: number } | undefined {
    return this.total === undefined ? undefined : { bytes: this.granted, received: this.total, reported: this.reported };
  }

  /** Counting: the window's ack of this connection has arrived. */
  get counting(): boolean {
    return this.total !== undefined;
  }

  /** The window's ack (granting `window` bytes): the count starts at 0; the caller adds the ack itself. */
  start(window: number): void {
    this.total = 0;
    this.reported = 0;
    this.granted = window;
  }

  /** The connection ended: nothing counts until the next connection's ack. */
  stop(): void {
    this.total = undefined;
  }

  /** Received `bytes` (as the server counts them); reports the total once it grew by half the window. */
  add(bytes: number): void {
    if (this.total === undefined) return;
    this.total += bytes;
    if ((this.total - this.reported) * 2 >= this.granted) this.reportNow();
  }

  /** Reports the total now (a report the server refused for its rate is replaced by this one). */
  reportNow(): void {
    if (this.total === undefined) return;
    this.reported = this.total;
    this.report(this.total);
  }
}

/** Node's Buffer, when there is one: its native UTF-8 count is the fastest (a global, so the browser build imports nothing). */
const nodeBuffer = (globalThis as { Buffer?: { byteLength(text: string, encoding: 'utf8'): number } }).Buffer;

/** What a received frame counts: its payload's bytes (a binary view: its length, before any decoding). */
export function frameBytes(data: unknown, text: string): number {
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  return textBytes(text);
}

/** The UTF-8 length of `text`, allocating nothing of its size. */
export function textBytes(text: string): number {
  return nodeBuffer !== undefined ? nodeBuffer.byteLength(text, 'utf8') : encodedLength(text);
}

const encoder = typeof TextEncoder === 'function' ? new TextEncoder() : undefined;
/** A fixed scratch for `encodeInto`: texts longer than it fits are encoded in pieces (never split inside a character). */
let scratch: Uint8Array | undefined;
const SCRATCH_BYTES = 16 * 1024;

/**
 * The UTF-8 length without Node's Buffer (browsers): `TextEncoder.encodeInto` into a fixed 16 KiB
 * scratch, piece by piece (native, and per character several times faster than a JavaScript loop,
 * ASCII or not); where there is no TextEncoder, that loop.
 */
export function encodedLength(text: string): number {
  if (encoder === undefined) return utf8Length(text);
  scratch ??= new Uint8Array(SCRATCH_BYTES);
  let bytes = 0;
  for (let rest = text; ; ) {
    const done = encoder.encodeInto(rest, scratch);
    const read = done.read ?? rest.length;
    bytes += done.written ?? 0;
    if (read >= rest.length) return bytes;
    rest = rest.slice(read);
  }
}
