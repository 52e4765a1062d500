/** A `snap` frame: one chunk of a keyed channel's state at `seq` (docs/keyed.md). */
export interface SnapFrame {
  readonly epoch: string;
  readonly seq: number;
  readonly msgs: ReadonlyArray<{ readonly key: string; readonly data: unknown; readonly del?: boolean }>;
  readonly last: boolean;
}

/**
 * The client's view of a keyed channel: key → latest value. A snapshot replaces it whole once its
 * last chunk arrives (a key the snapshot lacks was deleted meanwhile); every message after it
 * sets its key, or deletes it.
 */
export class KeyedView<T> {
  private current = new Map<string, T>();
  /** The chunks of a snapshot not yet complete. */
  private incoming: Map<string, T> | undefined;

  get state(): ReadonlyMap<string, T> {
    return this.current;
  }

  /** A chunk; true when it completed the snapshot (the view was replaced). */
  chunk(frame: SnapFrame): boolean {
    const into = (this.incoming ??= new Map());
    for (const m of frame.msgs) into.set(m.key, m.data as T);
    if (!frame.last) return false;
    this.current = into;
    this.incoming = undefined;
    return true;
  }

  apply(key: string, data: unknown, del: boolean): void {
    if (del) this.current.delete(key);
    else this.current.set(key, data as T);
  }

  /** A resubscription starts: a snapshot that was cut off is dropped. */
  reset(): void {
    this.incoming = undefined;
  }
}
