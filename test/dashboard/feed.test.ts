import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DashboardFeed, type SnapshotProducer } from '../../src/dashboard/feed.js';
import type { Snapshot } from '../../src/dashboard/snapshot.js';
import type { HttpStream, HttpStreamHandler } from '../../src/net/http.js';

class FakeStream implements HttpStream {
  readonly chunks: string[] = [];
  buffered = 0;
  ended = false;
  handler: HttpStreamHandler | undefined;
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }
  bufferedAmount(): number {
    return this.buffered;
  }
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.handler?.onClose();
  }
}

function setup(maxViewers = 3) {
  let builds = 0;
  let resets = 0;
  const builder: SnapshotProducer = {
    reset: () => void resets++,
    build: () => ({ n: ++builds }) as unknown as Snapshot,
  };
  // A long interval: the test drives tick() itself.
  const feed = new DashboardFeed(builder, { intervalMs: 3_600_000, maxViewers }, pino({ level: 'silent' }));
  const join = (): FakeStream => {
    const s = new FakeStream();
    s.handler = feed.join(s);
    return s;
  };
  return { feed, join, resets: () => resets };
}

describe('DashboardFeed', () => {
  let feed: DashboardFeed | undefined;
  afterEach(() => feed?.close());

  it('runs one timer while someone watches and sends every viewer the same event', () => {
    const t = setup();
    feed = t.feed;
    expect(t.feed.running).toBe(false);
    const a = t.join();
    expect(t.feed.running).toBe(true);
    expect(t.resets()).toBe(1);
    t.feed.tick();
    const b = t.join();
    expect(b.chunks).toEqual(['data: {"n":1}\n\n']);
    t.feed.tick();
    expect(a.chunks).toEqual(['data: {"n":1}\n\n', 'data: {"n":2}\n\n']);
    expect(b.chunks[1]).toBe(a.chunks[1]);
    a.end();
    b.end();
    expect(t.feed.running).toBe(false);
    t.join();
    expect(t.resets()).toBe(2);
  });

  it('skips a viewer that is not reading and cuts it off when it stays behind', () => {
    const t = setup();
    feed = t.feed;
    const reader = t.join();
    const stuck = t.join();
    stuck.buffered = 300 * 1024;
    for (let i = 0; i < 30; i++) t.feed.tick();
    expect(stuck.chunks).toEqual([]);
    expect(stuck.ended).toBe(false);
    t.feed.tick();
    expect(stuck.ended).toBe(true);
    expect(reader.chunks).toHaveLength(31);
    expect(t.feed.viewerCount).toBe(1);
  });

  it('ends streams beyond maxViewers and every stream on close', () => {
    const t = setup(1);
    feed = t.feed;
    const first = t.join();
    const second = t.join();
    expect(second.ended).toBe(true);
    expect(t.feed.viewerCount).toBe(1);
    t.feed.close();
    expect(first.ended).toBe(true);
    expect(t.feed.running).toBe(false);
    expect(t.join().ended).toBe(true);
  });
});
