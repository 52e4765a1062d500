import { parseHistoryEntry } from './redis-scripts.js';

/**
 * A keyed channel's state read from Redis in bounded chunks (docs/keyed.md, "Snapshots on Redis"):
 * the first HSCAN step comes with the history read that fixes the position (epoch, S0), the next
 * ones one script call each (SCAN_SCRIPT). Publications go on meanwhile, so the chunks are a mix:
 * a key may come with its value at S0 or a later one, twice, or (added during the read) not at all.
 * The last step also returns the stream's seq S and the history entries (S0, S], read together;
 * the state at S is then exact: the newest scanned value of each key, with every change after S0
 * applied in order. A key present and unchanged through the read is in the chunks (HSCAN returns
 * every element present from its first call to its last); every other key is in the changes.
 */

/** Where a read in chunks stands: the scanned entries so far (texts as stored), and the next cursor. */
export interface ScanStart {
  readonly epoch: string;
  readonly seq: number;
  readonly cursor: string;
  readonly entries: readonly string[];
}

/** One step's answer: the stream moved on beyond what the read can complete (restart), a chunk, or the last chunk. */
export type ScanStep =
  | readonly [0]
  | readonly [1, string, string[]]
  | readonly [2, number, string[], string[], number];

/** The state at `seq`: entries in no particular order, none older than `keyTtlMs` at `now` (0: no TTL). */
export interface ScannedState {
  readonly seq: number;
  readonly entries: string[];
}

/**
 * The state at `seq` from the chunks of a read that began at `since` and the history entries
 * `changes` = (since, seq], in order. Pure: the model test drives it with any interleaving.
 */
export function completeScan(chunks: readonly string[], changes: readonly string[], seq: number, now: number, keyTtlMs: number): ScannedState {
  const byKey = new Map<string, { seq: number; entry: string; at: number; del: boolean }>();
  for (const entry of chunks) {
    const parsed = parseHistoryEntry(entry);
    const held = byKey.get(parsed.key!);
    if (held === undefined || parsed.seq > held.seq) byKey.set(parsed.key!, { seq: parsed.seq, entry, at: parsed.at, del: parsed.del });
  }
  for (const entry of changes) {
    const parsed = parseHistoryEntry(entry);
    if (parsed.key === undefined) continue;
    byKey.set(parsed.key, { seq: parsed.seq, entry, at: parsed.at, del: parsed.del });
  }
  const entries: string[] = [];
  for (const held of byKey.values()) if (!held.del && (keyTtlMs <= 0 || now - held.at <= keyTtlMs)) entries.push(held.entry);
  return { seq, entries };
}

/**
 * Reads the rest of a snapshot from `start`, one `step` per chunk: the state at the seq where it
 * ended, or undefined when the stream moved on beyond what the read can complete (another epoch,
 * or more changes than the history holds): the caller reads again.
 */
export async function readRest(start: ScanStart, step: (cursor: string) => Promise<ScanStep>, keyTtlMs: number): Promise<ScannedState | undefined> {
  const chunks = [...start.entries];
  let cursor = start.cursor;
  for (;;) {
    const answer = await step(cursor);
    if (answer[0] === 0) return undefined;
    for (const entry of answer[2]) chunks.push(entry);
    if (answer[0] === 2) return completeScan(chunks, answer[3], answer[1], answer[4], keyTtlMs);
    cursor = answer[1];
  }
}
