import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ChannelRules } from '../../src/config/channel-rules.js';
import { loadConfig } from '../../src/config/load.js';
import { Channel } from '../../src/hub/channel.js';
import { Subscription } from '../../src/session/subscription.js';
import { Publication } from '../../src/stream/publication.js';

const channel = new Channel('ch', new ChannelRules(loadConfig({ overrides: {} })).settingsFor('ch'));
const sink = { deliver: () => 0 as const, replay: () => {}, snapshot: () => {}, restate: () => {} };

describe('Subscription: the account of shed messages', () => {
  it('merges consecutive seqs into one run, whatever the order they are shed in, and keeps holes apart', () => {
    const sub = new Subscription(channel, sink);
    for (const seq of [5, 3, 4, 9, 8]) sub.noteShed('e', seq, seq === 8 ? 'conflated' : 'dropped');
    expect(sub.takeGapsBefore({ epoch: 'e', seq: 7 })).toEqual([{ epoch: 'e', from: 3, to: 5, reason: 'dropped' }]);
    expect(sub.hasGap).toBe(true);
    // 9 was dropped: the run does not claim that every message in it has a newer one of its key.
    expect(sub.takeGaps()).toEqual([{ epoch: 'e', from: 8, to: 9, reason: 'dropped' }]);
    for (const [seq, reason] of [[1, 'conflated'], [2, 'expired'], [3, 'conflated'], [4, 'dropped'], [5, 'expired']] as const) sub.noteShed('e', seq, reason);
    expect(sub.takeGaps()).toEqual([{ epoch: 'e', from: 1, to: 5, reason: 'expired' }]); // the latest but conflated
    for (const seq of [1, 2]) sub.noteShed('e', seq, 'conflated');
    expect(sub.takeGaps()).toEqual([{ epoch: 'e', from: 1, to: 2, reason: 'conflated' }]);
    expect(sub.hasGap).toBe(false);
  });

  it('a notice takes the runs of older epochs and of its own up to its position', () => {
    const sub = new Subscription(channel, sink);
    sub.noteShed('old', 10, 'dropped');
    sub.noteShed('new', 2, 'dropped');
    expect(sub.takeGapsBeforeNotice({ epoch: 'new', seq: 0 })).toEqual([{ epoch: 'old', from: 10, to: 10, reason: 'dropped' }]);
    expect(sub.takeGapsBefore({ epoch: 'new', seq: 3 })).toEqual([{ epoch: 'new', from: 2, to: 2, reason: 'dropped' }]);
  });

  it('orders epochs as they were handed to it: a notice into a provisional stream precedes the runs of the epoch that follows it', () => {
    const sub = new Subscription(channel, sink);
    const hand = (epoch: string, seq: number) => sub.deliver(new Publication('ch', channel.queuePolicy, epoch, seq, undefined, undefined, Buffer.from(''), 0));
    hand('old', 9);
    hand('~provisional', 0); // a reset notice
    hand('new', 1);
    hand('new', 2);
    sub.noteShed('new', 2, 'dropped');
    sub.noteShed('old', 9, 'dropped'); // shed later (drop-oldest), but earlier in the stream
    expect(sub.takeGapsBeforeNotice({ epoch: '~provisional', seq: 0 })).toEqual([{ epoch: 'old', from: 9, to: 9, reason: 'dropped' }]);
    expect(sub.takeGapsBefore({ epoch: 'new', seq: 2 })).toEqual([]);
    expect(sub.takeGapsBefore({ epoch: 'new', seq: 3 })).toEqual([{ epoch: 'new', from: 2, to: 2, reason: 'dropped' }]);
  });

  it('runs are exactly the shed seqs, consecutive ones merged, in order', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { maxLength: 40 }), (seqs) => {
        const sub = new Subscription(channel, sink);
        for (const seq of seqs) sub.noteShed('e', seq, 'dropped');
        const runs = sub.takeGaps();
        const covered = runs.flatMap((r) => Array.from({ length: r.to - r.from + 1 }, (_, i) => r.from + i));
        expect(covered).toEqual([...seqs].sort((a, b) => a - b));
        for (let i = 1; i < runs.length; i++) expect(runs[i]!.from).toBeGreaterThan(runs[i - 1]!.to + 1);
      }),
    );
  });
});
