/** The connection's side of a control lane: what it does when the lane fills up and drains. */
export interface ControlOwner {
  /** The consumer cannot keep up: cut it off. */
  slowConsumer(): void;
  /**
   * The control lane is full: stop taking the client's requests until `repliesDrained`, and say
   * so (true); false when that is not possible, and the client is cut off as a slow consumer.
   */
  repliesBackedUp(): boolean;
  repliesDrained(): void;
}

/** Where a control lane writes: its connection's outbound writer. */
export interface ControlOutput {
  /** The socket takes more (it is under its high-water mark). */
  readonly writable: boolean;
  writeText(text: string): void;
  writePong(payload: Buffer): void;
}

/** A control frame that must do something just before it is written (the receive window's ack starts its count). */
export interface MarkedControl {
  readonly text: string;
  before(): void;
}

/**
 * The control frames (acks, errors) and the pong that wait while a connection's socket is backed
 * up, written ahead of all data once it drains. Bounded by `limit` frames; past it the lane grows
 * only while the owner has stopped taking requests.
 */
export class ControlLane {
  private frames: (string | MarkedControl)[] = [];
  private head = 0;
  /** The lane filled up and the owner stopped taking requests until it drains. */
  private repliesHeld = false;
  /**
   * The latest ping not answered yet. RFC 6455 (5.5.3) lets an endpoint answer only the latest of
   * several pings, so a peer that pings without reading costs one pong.
   */
  private owedPong: Buffer | undefined;

  constructor(
    private readonly limit: number,
    private readonly owner: ControlOwner,
  ) {}

  /** No control frame waits (an owed pong aside). */
  get empty(): boolean {
    return this.head === this.frames.length;
  }

  push(text: string | MarkedControl): void {
    if (this.frames.length - this.head >= this.limit && !this.repliesHeld) {
      // Past the limit the lane grows only by replies to requests already taken: those in flight
      // (at most the publish window and the joins) and those of the frame being handled.
      if (!this.owner.repliesBackedUp()) {
        this.owner.slowConsumer();
        return;
      }
      this.repliesHeld = true;
    }
    this.frames.push(text);
  }

  /** A ping arriving while a pong is still owed stops the owner taking requests until the lane drains. */
  owePong(payload: Buffer): void {
    if (this.owedPong !== undefined && !this.repliesHeld && this.owner.repliesBackedUp()) this.repliesHeld = true;
    this.owedPong = Buffer.from(payload);
  }

  /** Writes the owed pong, then the frames while the socket takes them; tells the owner once drained. */
  flush(output: ControlOutput): void {
    if (this.owedPong !== undefined) {
      const pong = this.owedPong;
      this.owedPong = undefined;
      output.writePong(pong);
    }
    while (output.writable && this.head < this.frames.length) {
      const frame = this.frames[this.head++]!;
      if (typeof frame === 'string') output.writeText(frame);
      else {
        frame.before();
        output.writeText(frame.text);
      }
    }
    if (this.head === this.frames.length && this.head > 0) {
      this.frames = [];
      this.head = 0;
    }
    if (this.repliesHeld && this.head === this.frames.length) {
      this.repliesHeld = false;
      this.owner.repliesDrained();
    }
  }

  clear(): void {
    this.frames = [];
    this.head = 0;
    this.owedPong = undefined;
  }
}
