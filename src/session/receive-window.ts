/**
 * A client's receive window (docs/protocol.md, `window`, `recv`): the bytes written to it since the
 * window's ack, each frame counted as the client counts it (its UTF-8 bytes plus one), against the
 * client's latest report. While more than `bytes` are unreported, its data waits (OutboundWriter).
 */
export class ReceiveWindow {
  sent = 0;
  reported = 0;

  constructor(public bytes: number) {}

  /** More than the window is unreported. */
  get full(): boolean {
    return this.sent - this.reported > this.bytes;
  }

  /** Counts a frame of `bytes` written; true when the window is now full. */
  wrote(bytes: number): boolean {
    this.sent += bytes + 1;
    return this.full;
  }

  /** The client's running total: false (ignored) when it cannot be right: more than was written, or less than an earlier report. */
  report(total: number): boolean {
    if (total > this.sent || total < this.reported) return false;
    this.reported = total;
    return true;
  }
}
