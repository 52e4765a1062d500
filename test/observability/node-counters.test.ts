import { describe, expect, it } from 'vitest';
import { COUNTERS, CounterWindow, readCounters, type NodeState } from '../../src/observability/node-counters.js';
import { Stats } from '../../src/observability/stats.js';
import { CLOSE } from '../../src/protocol/close-codes.js';

function node(): NodeState & { published: number } {
  const state = {
    stats: new Stats(),
    published: 0,
    connectionCount: () => 0,
    channelCount: () => 0,
    publications: () => state.published,
    queues: () => [],
  };
  return state;
}

describe('node counters', () => {
  it('reads every figure under one name, from Stats, the close codes and the hub', () => {
    const n = node();
    n.stats.backpressureEvents = 3;
    n.stats.shed.conflated = 4;
    n.stats.countClose(CLOSE.slow_consumer.code);
    n.stats.countClose(CLOSE.rate_limit_strikes.code);
    n.stats.countClose(CLOSE.rate_limit_strikes.code);
    n.published = 7;
    expect(readCounters(n, ['backpressureEvents', 'conflated', 'slowConsumerDisconnects', 'rateLimitDisconnects', 'publications', 'brokerRepairs'])).toEqual({
      backpressureEvents: 3,
      conflated: 4,
      slowConsumerDisconnects: 1,
      rateLimitDisconnects: 2,
      publications: 7,
      brokerRepairs: 0,
    });
    expect(Object.keys(COUNTERS)).toContain('apiPublications');
  });

  it('gives the growth over a window and starts the next one, against its own baseline', () => {
    const n = node();
    let now = 0;
    const window = new CounterWindow(n, ['messagesIn', 'publications'], () => now);
    const other = new CounterWindow(n, ['messagesIn'], () => now);
    n.stats.messagesIn += 10;
    n.published += 2;
    now = 500;
    expect(window.next()).toEqual({ totals: { messagesIn: 10, publications: 2 }, delta: { messagesIn: 10, publications: 2 }, elapsedMs: 500 });
    n.stats.messagesIn += 5;
    now = 800;
    expect(window.next().delta).toEqual({ messagesIn: 5, publications: 0 });
    expect(other.next()).toMatchObject({ delta: { messagesIn: 15 }, elapsedMs: 800 });
    n.stats.messagesIn += 1;
    window.reset();
    now = 900;
    expect(window.next()).toMatchObject({ delta: { messagesIn: 0 }, elapsedMs: 100 });
  });
});
