import type { Frame, TestClient } from './client.js';

/**
 * Seqs 1..`last` of `ch` as `client` received them: whether messages and gaps came in increasing
 * seq order, the seqs not received exactly once (as a message or inside a gap), and the gaps.
 */
export function account(client: TestClient, ch: string, last: number, first = 1): { order: boolean; wrong: number[]; gaps: Frame[] } {
  const frames = client.frames.filter((f) => f.ch === ch && (f.ev === 'msg' || f.ev === 'gap'));
  const seen = new Map<number, number>();
  let at = 0;
  let order = true;
  for (const f of frames) {
    const from = f.ev === 'msg' ? Number(f.seq) : Number(f.from);
    const to = f.ev === 'msg' ? from : Number(f.to);
    if (from <= at) order = false;
    at = to;
    for (let s = from; s <= to; s++) seen.set(s, (seen.get(s) ?? 0) + 1);
  }
  const wrong = Array.from({ length: last - first + 1 }, (_, i) => first + i).filter((s) => seen.get(s) !== 1);
  return { order, wrong, gaps: frames.filter((f) => f.ev === 'gap') };
}
