/**
 * Order books for keyed-channel tests and benchmarks (docs/keyed.md): 50 levels a side, about
 * 1.5 KB of JSON. Each update moves the timestamp and the sizes of 1–4 of the top 10 levels, as a
 * market's book changes from one tick to the next. Deterministic: the same seed gives the same books.
 */
export class OrderBooks {
  private readonly books: Array<{ sym: string; ts: number; bids: Array<[number, number]>; asks: Array<[number, number]> }>;
  private state: number;

  constructor(instruments: number, seed = 1) {
    this.state = seed >>> 0 || 1;
    this.books = Array.from({ length: instruments }, (_, n) => {
      const level = (side: number, i: number): [number, number] => [Number((100 + n + side * (i + 1) * 0.01).toFixed(2)), 1000 + this.random(9000)];
      return { sym: `I${n}`, ts: 1_700_000_000_000, bids: Array.from({ length: 50 }, (_, i) => level(-1, i)), asks: Array.from({ length: 50 }, (_, i) => level(1, i)) };
    });
  }

  get size(): number {
    return this.books.length;
  }

  /** The current JSON text of instrument `n`'s book. */
  text(n: number): string {
    return JSON.stringify(this.books[n]);
  }

  /** Updates instrument `n`'s book and returns its new JSON text. */
  update(n: number): string {
    const book = this.books[n]!;
    book.ts += 1 + this.random(50);
    for (let moves = 1 + this.random(4); moves > 0; moves--) {
      const side = this.random(2) === 0 ? book.bids : book.asks;
      side[this.random(10)]![1] = 1000 + this.random(9000);
    }
    return JSON.stringify(book);
  }

  /** xorshift32: an integer in [0, n). */
  private random(n: number): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state % n;
  }
}
