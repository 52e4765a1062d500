/** The copy buffer's first size, and the largest one kept once no frame is held. */
const FIRST_BYTES = 4096;
/** Taken frames at the front after which, once they are at least half of the slots, the slots are compacted. */
const COMPACT_AFTER = 256;

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
    // Full: first take back the room of frames already taken, if that is at least half of it.
    if (!this.stable && this.copies !== undefined && this.copied + data.length > this.copies.length && 2 * this.takenBytes() >= this.copied) this.compact();
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
    // A queue that never empties would otherwise keep every slot (and copy) it ever had.
    else if (this.head >= COMPACT_AFTER && 2 * this.head >= this.count) this.compact();
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

  /** Bytes at the front of `copies` that belong to frames already taken. */
  private takenBytes(): number {
    return this.head === 0 ? 0 : this.ends[this.head - 1]!;
  }

  /** Drops the frames already taken from the front: their slots and, for copies, their bytes. */
  private compact(): void {
    const { head } = this;
    if (head === 0) return;
    const live = this.count - head;
    if (this.stable) this.refs.splice(0, head);
    else {
      const base = this.takenBytes();
      this.copies!.copyWithin(0, base, this.copied);
      this.copied -= base;
      this.ends.splice(0, head);
      for (let i = 0; i < live; i++) this.ends[i]! -= base;
    }
    this.binary.splice(0, head);
    this.count = live;
    this.head = 0;
  }

  private grow(needed: number): void {
    const size = Math.max(needed, Math.min(this.limitBytes, Math.max(FIRST_BYTES, 2 * (this.copies?.length ?? 0))));
    const copies = Buffer.allocUnsafe(size);
    if (this.copies !== undefined) this.copies.copy(copies, 0, 0, this.copied);
    this.copies = copies;
  }
}
