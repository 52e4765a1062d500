/** The copy buffer's first size, and the largest one kept once no frame is held. */
const FIRST_BYTES = 4096;

/**
 * The frames a connection received while its requests were stopped, oldest first (RequestGate).
 * Where the transport's messages stay valid (`stable`: ws) they are kept as they are. Where they
 * are valid only during the call (uWS), their bytes are copied, one after the other, into one
 * buffer per connection, which doubles when full (up to `limitBytes`, the most the gate holds, or
 * what one more frame needs past it) and is let go (past its first size) once no frame is held:
 * holding a frame then costs a copy and no allocation, and the buffer stays within the gate's
 * bound on what it holds (`limits.maxHeldRequestBytes`) plus one frame, as the frames did. A
 * Buffer of its own per frame cost a flood's turn an allocation and a chain of calls for each of
 * thousands of held frames, in code not yet optimised (a fresh gateway's), and their garbage a
 * scavenge.
 */
export class HeldFrames {
  /** `stable`: the frames themselves. */
  private refs: Array<Buffer | undefined> = [];
  /** Not `stable`: where each frame's copy ends in `copies` (it starts where the one before ends). */
  private ends: number[] = [];
  private binary: boolean[] = [];
  private head = 0;
  private count = 0;
  private copies: Buffer | undefined;
  private copied = 0;
  /** The bytes of the frames held. */
  bytes = 0;

  constructor(
    private readonly stable: boolean,
    private readonly limitBytes = Infinity,
  ) {}

  get size(): number {
    return this.count - this.head;
  }

  push(data: Buffer, isBinary: boolean): void {
    const i = this.count++;
    if (this.stable) this.refs[i] = data;
    else {
      const end = this.copied + data.length;
      if (this.copies === undefined || end > this.copies.length) this.grow(end);
      this.copies!.set(data, this.copied);
      this.copied = this.ends[i] = end;
    }
    this.binary[i] = isBinary;
    this.bytes += data.length;
  }

  /** The oldest frame held (with a copy: a view of it, valid until the frame is taken). */
  first(): Buffer {
    const { head } = this;
    if (this.stable) return this.refs[head]!;
    return this.copies!.subarray(head === 0 ? 0 : this.ends[head - 1]!, this.ends[head]!);
  }

  firstIsBinary(): boolean {
    return this.binary[this.head]!;
  }

  /** Takes the oldest frame off. */
  shift(): void {
    const { head } = this;
    if (this.stable) {
      this.bytes -= this.refs[head]!.length;
      this.refs[head] = undefined;
    } else this.bytes -= this.ends[head]! - (head === 0 ? 0 : this.ends[head - 1]!);
    this.head++;
    if (this.head === this.count) this.clear();
  }

  /** Forgets every frame held. */
  clear(): void {
    if (this.count > 1024) {
      this.refs = [];
      this.ends = [];
      this.binary = [];
    } else if (this.stable) this.refs.fill(undefined, this.head, this.count);
    this.head = this.count = this.copied = this.bytes = 0;
    if (this.copies !== undefined && this.copies.length > FIRST_BYTES) this.copies = undefined;
  }

  private grow(needed: number): void {
    const size = Math.max(needed, Math.min(this.limitBytes, Math.max(FIRST_BYTES, 2 * (this.copies?.length ?? 0))));
    const copies = Buffer.allocUnsafe(size);
    if (this.copies !== undefined) this.copies.copy(copies, 0, 0, this.copied);
    this.copies = copies;
  }
}
