import { describe, expect, it } from 'vitest';
import { ChannelLedger, emptyCounts } from './ledger.js';

/** The model's checker itself: what it must accept (a valid stream) and what it must flag. */
describe('the model ledger', () => {
  it('a recovered resume that missed nothing, then a reset: later gaps of the new stream are not inside the old replay', () => {
    const ledger = new ChannelLedger('ch', 'raw', emptyCounts());
    ledger.acknowledged({ ev: 'ack', epoch: 'E', seq: 80, recovered: true }, { epoch: 'E', seq: 80 });
    ledger.frame({ ev: 'gap', ch: 'ch', from: 81, reason: 'reset', epoch: '~B', seq: 0 });
    ledger.frame({ ev: 'gap', ch: 'ch', from: 1, to: 8, n: 8, reason: 'unavailable', epoch: 'F', seq: 8 });
    ledger.frame({ ev: 'msg', ch: 'ch', seq: 9 });
    ledger.frame({ ev: 'gap', ch: 'ch', from: 10, to: 12, n: 3, reason: 'dropped' });
    expect(ledger.violations).toEqual([]);
  });

  it('flags a gap inside a recovered replay', () => {
    const ledger = new ChannelLedger('ch', 'raw', emptyCounts());
    ledger.acknowledged({ ev: 'ack', epoch: 'E', seq: 5, recovered: true }, { epoch: 'E', seq: 2 });
    ledger.frame({ ev: 'msg', ch: 'ch', seq: 3 });
    ledger.frame({ ev: 'gap', ch: 'ch', from: 4, to: 5, n: 2, reason: 'dropped' });
    expect(ledger.violations).toEqual(['raw ch: gap 4..5 dropped inside a recovered replay (up to 5)']);
  });
});
