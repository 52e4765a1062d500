/**
 * A history read on Redis in bounded chunks: HISTORY_SCRIPT fixes the position (epoch, seq) and
 * answers the first entries, then HISTORY_CHUNK_SCRIPT one chunk per call from the seq of the first
 * entry left up to that seq, so no single reply holds a large history (one of 15 MB took longer
 * than the command timeout to arrive on a busy node: the resume failed `unavailable` at every
 * retry). Entries are located by seq, so publications made between the calls do not move them;
 * a chunk history no longer holds (trimmed meanwhile, or another epoch) ends the read, and the
 * caller reads again from the start, whose answer is then exact for the stream as it is.
 */

/** A chunk's answer: the stream moved on beyond it, or its entries and the seq of the first one left (0: none). */
export type HistoryChunk = readonly [0] | readonly [1, string[], number];

/** The read's entries: `first`, then those from seq `left` on, one `step` per chunk; undefined when a chunk is no longer held. */
export async function readChunks(first: readonly string[], left: number, step: (from: number) => Promise<HistoryChunk>): Promise<string[] | undefined> {
  const entries = first.slice();
  while (left > 0) {
    const chunk = await step(left);
    if (chunk[0] === 0) return undefined;
    for (const entry of chunk[1]) entries.push(entry);
    left = chunk[2];
  }
  return entries;
}
