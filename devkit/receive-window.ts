/**
 * A raw-frame client's side of the receive window (docs/protocol.md, "`window`, `recv`"): it asks
 * for a window of `bytes` with the id "w", and from the server's ack on (the ack included) counts
 * every text frame it reads as its payload's bytes + 1, reporting the running total with `recv`
 * whenever the total has grown by half the window since its last report. Nothing is decoded: before
 * the ack a frame costs a length test (and a 20-byte compare for a frame that could be the ack), after
 * it an add and a compare.
 *
 * Fed event by event: the wire client (wire-client.ts) hands a batch frame on one event at a time,
 * never whole, and counting each event as its bytes + 1 counts a frame of n events (its payload:
 * their bytes and n − 1 separators) as payload + 1, the protocol's count. A report sent between two
 * events of one frame counts less than the server wrote, which the server takes. The payload is
 * counted as it arrives: the load tools never offer compression, so it is the UTF-8 text itself.
 */

/** The id of the `window` request; its ack starts with `ACK_PREFIX` (the server writes `ev` then `id` first). */
export const WINDOW_ID = 'w';
const ACK_PREFIX = Buffer.from(`{"ev":"ack","id":"${WINDOW_ID}"`);

/** What a window adds to: the acks it saw and the `recv` frames it sent. */
export interface WindowCounts {
  windowAcks: number;
  recvSent: number;
}

/** Whether buf[start, end) is the ack of the window request (the id "w"). */
export function isWindowAck(buf: Buffer, start: number, end: number): boolean {
  return end - start > ACK_PREFIX.length && buf.compare(ACK_PREFIX, 0, ACK_PREFIX.length, start, start + ACK_PREFIX.length) === 0;
}

export class ReceiveWindow {
  /** The request to send before any `sub`. */
  readonly request: string;
  private readonly half: number;
  private acked = false;
  private total = 0;
  private reported = 0;
  private reporting = true;

  /** `send` writes one text frame to the server; `counts`, when given, is added to. */
  constructor(
    readonly bytes: number,
    private readonly send: (text: string) => void,
    private readonly counts?: WindowCounts,
  ) {
    if (!Number.isInteger(bytes) || bytes <= 0) throw new Error(`a receive window needs a positive whole number of bytes, got ${bytes}`);
    this.request = `{"op":"window","bytes":${bytes},"id":"${WINDOW_ID}"}`;
    this.half = bytes / 2;
  }

  /** One text frame the client read, or one event of a batch frame: its payload is buf[start, end). */
  frame(buf: Buffer, start: number, end: number): void {
    if (!this.acked) {
      if (!isWindowAck(buf, start, end)) return;
      this.acked = true;
      if (this.counts !== undefined) this.counts.windowAcks++;
    }
    this.total += end - start + 1;
    if (this.total - this.reported >= this.half && this.reporting) {
      this.reported = this.total;
      if (this.counts !== undefined) this.counts.recvSent++;
      this.send(`{"op":"recv","bytes":${this.total}}`);
    }
  }

  /** The client stopped reading: it reports no more (the server then writes at most the window past its last report). */
  stop(): void {
    this.reporting = false;
  }

  /** Whether the server acknowledged the window. */
  get open(): boolean {
    return this.acked;
  }

  /** Bytes counted since the ack, the ack included. */
  get counted(): number {
    return this.total;
  }

  /** The total of the last `recv` sent (0: none yet). */
  get lastReport(): number {
    return this.reported;
  }
}
