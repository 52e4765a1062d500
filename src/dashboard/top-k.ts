/**
 * Keeps the `k` items with the largest score seen so far, largest first. Offering an item costs
 * O(1) when it does not make the cut and O(k) when it does, so scanning every connection or
 * channel once per snapshot stays linear for the small k a dashboard table shows.
 */
export class TopK<T> {
  private readonly items: T[] = [];
  private readonly scores: number[] = [];

  constructor(private readonly k: number) {}

  /** Items with a score of 0 or less are never kept. */
  offer(score: number, make: () => T): void {
    if (score <= 0) return;
    const n = this.scores.length;
    if (n === this.k && score <= this.scores[n - 1]!) return;
    let i = n === this.k ? n - 1 : n;
    while (i > 0 && this.scores[i - 1]! < score) {
      this.scores[i] = this.scores[i - 1]!;
      this.items[i] = this.items[i - 1]!;
      i--;
    }
    this.scores[i] = score;
    this.items[i] = make();
  }

  toArray(): T[] {
    return this.items.slice();
  }
}
