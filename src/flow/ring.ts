/**
 * A FIFO ring with absolute positions, O(1) push/shift and O(1) removal by position
 * (removal leaves a hole that shift skips). Storage grows by doubling from a small start, up to
 * `maxSlots`; holes are compacted away when the ring is full of them. Not Array.shift: no O(n) moves
 * on the hot path, and a near-empty ring costs a few slots, not `maxSlots`.
 */
export class Ring<T extends object> {
  private slots: (T | undefined)[];
  private mask: number;
  private head = 0;
  private tail = 0;
  private live = 0;

  constructor(private readonly maxSlots: number, initialSlots = 8) {
    const cap = Math.min(nextPow2(initialSlots), nextPow2(maxSlots));
    this.slots = new Array(cap);
    this.mask = cap - 1;
  }

  get length(): number {
    return this.live;
  }

  /** Slots in use including holes; never more than the allocated capacity. */
  get span(): number {
    return this.tail - this.head;
  }

  get capacity(): number {
    return this.slots.length;
  }

  /**
   * Appends an item and returns its position, or -1 when the ring cannot take more
   * (live items already fill `maxSlots`). `onMove` is told of every item compaction relocates.
   */
  push(item: T, onMove?: (item: T, pos: number) => void): number {
    if (this.tail - this.head === this.slots.length) {
      if (this.live < this.slots.length && this.live * 2 <= this.slots.length) this.compact(onMove);
      else if (this.slots.length < nextPow2(this.maxSlots)) this.grow();
      else if (this.live < this.slots.length) this.compact(onMove);
      else return -1;
    }
    const pos = this.tail++;
    this.slots[pos & this.mask] = item;
    this.live++;
    return pos;
  }

  /** Position of the first item (the head), or -1 when empty. */
  firstPos(): number {
    this.skipHoles();
    return this.head < this.tail ? this.head : -1;
  }

  peek(): T | undefined {
    this.skipHoles();
    return this.head < this.tail ? this.slots[this.head & this.mask] : undefined;
  }

  shift(): T | undefined {
    this.skipHoles();
    if (this.head === this.tail) return undefined;
    const i = this.head & this.mask;
    const item = this.slots[i];
    this.slots[i] = undefined;
    this.head++;
    this.live--;
    return item;
  }

  /** The item at an absolute position, if still there. */
  at(pos: number): T | undefined {
    if (pos < this.head || pos >= this.tail) return undefined;
    return this.slots[pos & this.mask];
  }

  /** Removes the item at an absolute position; returns it, or undefined if that slot was empty. */
  removeAt(pos: number): T | undefined {
    const item = this.at(pos);
    if (item === undefined) return undefined;
    this.slots[pos & this.mask] = undefined;
    this.live--;
    // A hole at either end is dropped at once, so that no scan from the head (or push) walks over
    // it again: shedding the oldest, over and over, stays O(1).
    if (pos === this.head) this.skipHoles();
    else if (pos === this.tail - 1) {
      this.tail--;
      while (this.tail > this.head && this.slots[(this.tail - 1) & this.mask] === undefined) this.tail--;
    }
    return item;
  }

  /** First position at or after `from` holding an item that matches, or -1. */
  findFrom(from: number, match: (item: T) => boolean): number {
    for (let pos = Math.max(from, this.head); pos < this.tail; pos++) {
      const item = this.slots[pos & this.mask];
      if (item !== undefined && match(item)) return pos;
    }
    return -1;
  }

  clear(): void {
    this.slots = new Array(Math.min(8, this.slots.length));
    this.mask = this.slots.length - 1;
    this.head = this.tail = this.live = 0;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let pos = this.head; pos < this.tail; pos++) {
      const item = this.slots[pos & this.mask];
      if (item !== undefined) yield item;
    }
  }

  private skipHoles(): void {
    while (this.head < this.tail && this.slots[this.head & this.mask] === undefined) this.head++;
  }

  private grow(): void {
    const old = this.slots;
    const oldMask = this.mask;
    const cap = old.length * 2;
    this.slots = new Array(cap);
    this.mask = cap - 1;
    for (let pos = this.head; pos < this.tail; pos++) this.slots[pos & this.mask] = old[pos & oldMask];
  }

  private compact(onMove?: (item: T, pos: number) => void): void {
    const old = this.slots;
    const oldMask = this.mask;
    this.slots = new Array(old.length);
    let pos = this.head;
    for (let p = this.head; p < this.tail; p++) {
      const item = old[p & oldMask];
      if (item === undefined) continue;
      this.slots[pos & this.mask] = item;
      if (p !== pos) onMove?.(item, pos);
      pos++;
    }
    this.tail = pos;
  }
}

export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
