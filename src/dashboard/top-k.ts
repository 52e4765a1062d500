/**
 * Keeps the `k` items with the largest score seen so far, largest first. `accepts` is O(1) and
 * `add` O(k), so scanning every connection or channel once per snapshot stays linear for the small
 * k a dashboard table shows, and a row is built only for candidates that make the cut.
 */
export class TopK<T> {
  private readonly items: T[] = [];
  private readonly scores: number[] = [];

  constructor(private readonly k: number) {}

  /** Whether an item with this score would be kept. Scores of 0 or less never are. */
  accepts(score: number): boolean {
    const n = this.scores.length;
    return score > 0 && (n < this.k || score > this.scores[n - 1]!);
  }

  /** Adds an item that `accepts` its score. */
  add(score: number, item: T): void {
    const n = this.scores.length;
    let i = n === this.k ? n - 1 : n;
    while (i > 0 && this.scores[i - 1]! < score) {
      this.scores[i] = this.scores[i - 1]!;
      this.items[i] = this.items[i - 1]!;
      i--;
    }
    this.scores[i] = score;
    this.items[i] = item;
  }

  toArray(): T[] {
    return this.items.slice();
  }
}
