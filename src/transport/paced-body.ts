import type { BodyAllowance, PausedBody } from '../net/server.js';

/** What a transport's request can do with its reading. */
export interface BodyReading {
  pause(): void;
  resume(): void;
}

/**
 * One request body read within the process's allowance of body bytes per event-loop turn
 * (`limits.httpBodyBytesPerTurn`), on both transports: once a chunk spends the turn's allowance
 * the request stops reading (the kernel's buffer fills and TCP pushes back on the client) and
 * reads on, in order, on a later turn. A body that reads on is charged its last chunk's size ahead,
 * since its bytes arrive only after the turn let it go on: a turn then lets go on only as many
 * bodies as its allowance covers, instead of all that waited. Copying a body's bytes into fresh
 * memory costs the loop ~4–5 ms per MiB on the reference machine (page faults), and uWS reads up to
 * 512 KiB per socket per turn: twenty publish-API bodies arriving together took one turn 40–60 ms.
 */
export class PacedBody implements PausedBody {
  /** Bytes charged ahead when it was let go on. */
  private ahead = 0;
  private last = 0;
  private ended = false;

  constructor(
    private readonly allowance: BodyAllowance | undefined,
    private readonly reading: BodyReading,
  ) {}

  /** Charges a chunk just read; unless it was the last, stops reading when the turn's allowance is spent. */
  read(bytes: number, last: boolean): void {
    if (this.allowance === undefined || this.ended) return;
    this.allowance.spent(Math.max(0, bytes - this.ahead));
    this.ahead = 0;
    this.last = bytes;
    if (!last && !this.allowance.mayGo(this)) this.reading.pause();
  }

  /** The body is complete, refused or its request gone: it is never let go on again. */
  end(): void {
    this.ended = true;
  }

  continueTurn(): void {
    if (this.ended) return;
    this.ahead = this.last;
    this.allowance!.spent(this.last);
    this.reading.resume();
  }
}
