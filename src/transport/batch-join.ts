import { EVENT_SEPARATOR_BYTE } from '../protocol/batch.js';

/** One event of a socket's turn: a prepared payload (shared) or a connection's own text frame. */
export type BatchEvent = Buffer | string;

/** How often batch payloads were built, and how often a socket's run reused those of the socket flushed before it: for tests. */
export const batchCounts = { joins: 0, shared: 0 };

const byteSize = (event: BatchEvent): number => (typeof event === 'string' ? Buffer.byteLength(event) : event.length);

/**
 * Cuts a socket's run of events into batch payloads (docs/protocol.md, "Batch frames"): as many
 * events as fit in `maxBytes`, joined by `\n`, an event larger than that alone; each payload then
 * goes through `finish` (the ws transport frames it). The subscribers of a channel that are caught
 * up get the same events in a turn, and the turn's flush takes their sockets one after another,
 * so the joiner keeps the last run it cut, by identity of its events: a socket whose run is the
 * same gets the same buffers, and the bytes are joined (and framed) once per channel per turn,
 * never per subscriber.
 */
export class BatchJoiner {
  /** The last run cut: its events, and the end (an index into its events) of each payload. */
  private events: BatchEvent[] = [];
  private maxBytes = -1;
  readonly payloads: Buffer[] = [];
  readonly ends: number[] = [];
  /** Sockets the last run was cut for (1: cut, not reused yet), and its payloads back to back once asked for. */
  private uses = 0;
  private whole: Buffer | undefined = undefined;

  constructor(private readonly finish: (payload: Buffer) => Buffer) {}

  /**
   * Cuts `events[from, to)`; the result is `payloads`, and `ends` (relative to `from`), valid
   * until the next call. Slots in range must hold events.
   */
  join(events: ArrayLike<BatchEvent | undefined>, from: number, to: number, maxBytes: number): this {
    if (this.isLast(events, from, to, maxBytes)) {
      batchCounts.shared++;
      this.uses++;
      return this;
    }
    batchCounts.joins++;
    this.uses = 1;
    this.whole = undefined;
    const n = to - from;
    const last = this.events;
    last.length = n;
    for (let i = 0; i < n; i++) last[i] = events[from + i]!;
    this.maxBytes = maxBytes;
    this.payloads.length = 0;
    this.ends.length = 0;
    let start = 0;
    while (start < n) {
      let bytes = byteSize(last[start]!);
      let end = start + 1;
      for (; end < n; end++) {
        const next = bytes + 1 + byteSize(last[end]!);
        if (next > maxBytes) break;
        bytes = next;
      }
      this.payloads.push(this.finish(end === start + 1 ? toBuffer(last[start]!) : joined(last, start, end, bytes)));
      this.ends.push(end);
      start = end;
    }
    return this;
  }

  /**
   * The payloads back to back in one buffer, for one write instead of one per payload, once a second
   * socket shares the run (the copy is made once for all of them; a run of one socket is not worth
   * it); the payload itself when there is one. Undefined for a run not shared yet.
   */
  sharedWhole(): Buffer | undefined {
    if (this.payloads.length === 1) return this.payloads[0];
    if (this.uses < 2) return undefined;
    return (this.whole ??= Buffer.concat(this.payloads));
  }

  private isLast(events: ArrayLike<BatchEvent | undefined>, from: number, to: number, maxBytes: number): boolean {
    const last = this.events;
    if (maxBytes !== this.maxBytes || to - from !== last.length) return false;
    for (let i = 0; i < last.length; i++) if (events[from + i] !== last[i]) return false;
    return true;
  }
}

function toBuffer(event: BatchEvent): Buffer {
  return typeof event === 'string' ? Buffer.from(event) : event;
}

function joined(events: readonly BatchEvent[], start: number, end: number, bytes: number): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (let i = start; i < end; i++) {
    if (i > start) out[at++] = EVENT_SEPARATOR_BYTE;
    const event = events[i]!;
    at += typeof event === 'string' ? out.write(event, at) : event.copy(out, at);
  }
  return out;
}
