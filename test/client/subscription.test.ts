import { describe, expect, it } from 'vitest';
import { Subscription, type Gap, type Message, type SubscriptionEvent } from '../../src/client/subscription.js';

function make(options: { recover?: boolean; iteratorBufferSize?: number } = {}) {
  const messages: number[] = [];
  const gaps: Gap[] = [];
  const owner = { unsubscribe: async () => {}, handlerFailed: (e: unknown) => { throw e; }, query: async () => ({}) };
  const sub = new Subscription('chat.r', { ...options, onMessage: (m: Message) => messages.push(m.seq), onGap: (g) => gaps.push(g) }, owner);
  return { sub, messages, gaps };
}

describe('Subscription seq tracking', () => {
  it('starts at the ack seq, drops duplicates, and resumes with since', async () => {
    const { sub, messages } = make();
    expect(sub.request()).toEqual({ op: 'sub', ch: 'chat.r' });
    sub.acknowledged({ epoch: 'e1', seq: 5 });
    await sub.ready;
    for (const seq of [6, 7, 7, 5, 8]) sub.message({ seq, data: null });
    expect(messages).toEqual([6, 7, 8]);
    expect(sub.counters.duplicates).toBe(2);
    sub.disconnected();
    sub.message({ seq: 9, data: null }); // not acknowledged yet: ignored
    expect(sub.request()).toEqual({ op: 'sub', ch: 'chat.r', since: { epoch: 'e1', seq: 8 } });
    sub.acknowledged({ epoch: 'e1', seq: 12, recovered: true });
    for (const seq of [7, 8, 9, 10, 11, 12, 13]) sub.message({ seq, data: null });
    expect(messages).toEqual([6, 7, 8, 9, 10, 11, 12, 13]);
    expect(sub.counters.resumes).toBe(1);
  });

  it('reports exactly the range lost when the server cannot recover it', () => {
    const { sub, gaps } = make();
    sub.acknowledged({ epoch: 'e1', seq: 0 });
    sub.message({ seq: 1, data: null });
    sub.disconnected();
    sub.acknowledged({ epoch: 'e1', seq: 40, recovered: false });
    expect(gaps).toEqual([{ type: 'gap', channel: 'chat.r', from: 2, to: 40, n: 39, reason: 'unrecoverable', epoch: 'e1' }]);
    sub.message({ seq: 41, data: null });
    expect(sub.lastSeq).toBe(41);
  });

  it('reports the previous epoch when the server lost the history', () => {
    const { sub, gaps } = make();
    sub.acknowledged({ epoch: 'old', seq: 10 });
    sub.disconnected();
    sub.acknowledged({ epoch: 'new', seq: 3, recovered: false });
    expect(gaps).toEqual([{ type: 'gap', channel: 'chat.r', from: 1, to: 3, n: 3, reason: 'unrecoverable', epoch: 'new', previous: { epoch: 'old', seq: 10 } }]);
    expect(sub.request()).toMatchObject({ since: { epoch: 'new', seq: 3 } });
  });

  it('with recover: false resubscribes live and reports what it skipped', () => {
    const { sub, gaps } = make({ recover: false });
    sub.acknowledged({ epoch: 'e', seq: 4 });
    sub.disconnected();
    expect(sub.request()).toEqual({ op: 'sub', ch: 'chat.r' });
    sub.acknowledged({ epoch: 'e', seq: 9 });
    expect(gaps.map((g) => [g.from, g.to, g.reason])).toEqual([[5, 9, 'skipped']]);
  });

  it('passes server gap frames through and flags any unannounced jump', () => {
    const { sub, messages, gaps } = make();
    sub.acknowledged({ epoch: 'e', seq: 0 });
    sub.message({ seq: 1, data: null });
    sub.gap({ from: 2, to: 6, n: 3, reason: 'dropped' });
    sub.message({ seq: 4, data: null }); // 4 was not shed
    sub.message({ seq: 7, data: null });
    sub.message({ seq: 10, data: null }); // 8, 9: nobody said
    expect(messages).toEqual([1, 4, 7, 10]);
    expect(gaps.map((g) => [g.from, g.to, g.n, g.reason])).toEqual([
      [2, 6, 3, 'dropped'],
      [8, 9, 2, 'missing'],
    ]);
  });

  it('resumes after a gap frame that accounts for every seq up to its end, and reports only what follows as lost', () => {
    const { sub, gaps } = make();
    sub.acknowledged({ epoch: 'e', seq: 0 });
    sub.message({ seq: 1, data: null });
    sub.gap({ from: 2, to: 4, n: 3, reason: 'dropped' });
    sub.disconnected();
    expect(sub.request()).toEqual({ op: 'sub', ch: 'chat.r', since: { epoch: 'e', seq: 4 } });
    sub.acknowledged({ epoch: 'e', seq: 10, recovered: false });
    expect(gaps.map((g) => [g.from, g.to, g.n, g.reason])).toEqual([
      [2, 4, 3, 'dropped'],
      [5, 10, 6, 'unrecoverable'],
    ]);
  });

  it('keeps resuming from the last message while a gap frame ahead of its place leaves earlier seqs to come', () => {
    const { sub, messages, gaps } = make();
    sub.acknowledged({ epoch: 'e', seq: 4 });
    sub.gap({ from: 9, to: 10, n: 2, reason: 'dropped' }); // drop-newest: announced before 5..8 arrive
    expect(sub.request()).toMatchObject({ since: { seq: 4 } });
    for (const seq of [5, 6, 7, 8, 11]) sub.message({ seq, data: null });
    expect(messages).toEqual([5, 6, 7, 8, 11]);
    expect(gaps.map((g) => g.reason)).toEqual(['dropped']);
    expect(sub.lastSeq).toBe(11);
  });

  it('reports as missing the seqs before a gap frame ahead of its place that never came', () => {
    const { sub, gaps } = make();
    sub.acknowledged({ epoch: 'e', seq: 4 });
    sub.gap({ from: 9, to: 10, n: 2, reason: 'dropped' });
    sub.message({ seq: 12, data: null });
    expect(gaps.map((g) => [g.from, g.to, g.n, g.reason])).toEqual([
      [9, 10, 2, 'dropped'],
      [5, 8, 4, 'missing'],
      [11, 11, 1, 'missing'],
    ]);
  });

  it('takes a gap frame covering its range in part as announcing only its own seqs', () => {
    const { sub, messages, gaps } = make();
    sub.acknowledged({ epoch: 'e', seq: 4 });
    sub.gap({ from: 5, to: 7, n: 2, reason: 'conflated' }); // 6 was not shed
    sub.message({ seq: 6, data: null });
    expect(sub.request()).toMatchObject({ since: { seq: 6 } });
    sub.message({ seq: 8, data: null });
    expect(messages).toEqual([6, 8]);
    expect(gaps.map((g) => g.reason)).toEqual(['conflated']);
  });

  it('takes a broker notice as the new position: an unavailable range of the current epoch', () => {
    const { sub, messages, gaps } = make();
    sub.acknowledged({ epoch: 'e', seq: 0 });
    for (const seq of [1, 2, 3, 4, 5]) sub.message({ seq, data: null });
    sub.gap({ from: 6, to: 9, n: 4, reason: 'unavailable', epoch: 'e', seq: 9 });
    expect(gaps).toEqual([{ type: 'gap', channel: 'chat.r', from: 6, to: 9, n: 4, reason: 'unavailable', epoch: 'e' }]);
    sub.disconnected(); // a resume starts after the notice's position
    expect(sub.request()).toMatchObject({ since: { epoch: 'e', seq: 9 } });
    sub.acknowledged({ epoch: 'e', seq: 10, recovered: true });
    sub.message({ seq: 10, data: null });
    expect(messages).toEqual([1, 2, 3, 4, 5, 10]);
    expect(gaps).toHaveLength(1);
  });

  it('follows a provisional epoch (subscribed before the first publish) into the stream it continues, losing nothing it received', () => {
    const { sub, messages, gaps } = make();
    sub.acknowledged({ epoch: '~r.1', seq: 0 });
    for (const seq of [1, 2]) sub.message({ seq, data: null });
    sub.gap({ from: 3, to: 5, n: 3, reason: 'unavailable', epoch: 'e', seq: 5 });
    expect(gaps).toEqual([{ type: 'gap', channel: 'chat.r', from: 3, to: 5, n: 3, reason: 'unavailable', epoch: 'e' }]);
    sub.disconnected();
    expect(sub.request()).toMatchObject({ since: { epoch: 'e', seq: 5 } });
    // A resume from a provisional position is answered in the epoch it continues into: the next one starts there.
    const other = make();
    other.sub.acknowledged({ epoch: '~r.2', seq: 0 });
    other.sub.disconnected();
    other.sub.acknowledged({ epoch: 'f', seq: 2, recovered: true });
    for (const seq of [1, 2]) other.sub.message({ seq, data: null });
    other.sub.disconnected();
    expect(other.sub.request()).toMatchObject({ since: { epoch: 'f', seq: 2 } });
    expect(other.gaps).toEqual([]);
    expect(messages).toEqual([1, 2]);
  });

  it('takes a reset into the epoch it already follows (it joined during the repair) as the range it skips', () => {
    const { sub, messages, gaps } = make();
    sub.acknowledged({ epoch: 'new', seq: 3 });
    sub.gap({ from: 9, reason: 'reset', epoch: 'new', seq: 7 });
    sub.gap({ from: 9, reason: 'reset', epoch: 'new', seq: 2 }); // behind its position: nothing it lacks
    sub.message({ seq: 8, data: null });
    expect(gaps).toEqual([{ type: 'gap', channel: 'chat.r', from: 4, to: 7, n: 4, reason: 'reset', epoch: 'new' }]);
    expect(messages).toEqual([8]);
  });

  it('refuses a gap frame without a seq range instead of losing track of its position', () => {
    const { sub, gaps } = make();
    sub.acknowledged({ epoch: 'e', seq: 0 });
    expect(() => sub.gap({ from: 1, reason: 'dropped' })).toThrow(/without a seq range/);
    expect(() => sub.gap({ from: 1, reason: 'reset', epoch: 'x', seq: Number.NaN })).toThrow(/bad position/);
    expect(() => sub.gap({ from: 1, reason: 'reset', seq: 4 })).toThrow(/bad position/);
    expect(sub.epoch).toBe('e');
    sub.message({ seq: 3, data: null });
    expect(gaps.map((g) => [g.from, g.to, g.reason])).toEqual([[1, 2, 'missing']]);
  });

  it('folds an epoch change into the iterator overflow exactly: the old epoch from where it overflowed, the new one from 1', async () => {
    const { sub } = make({ iteratorBufferSize: 2 });
    sub.acknowledged({ epoch: 'old', seq: 0 });
    const it = sub[Symbol.asyncIterator]();
    for (const seq of [1, 2, 3, 4]) sub.message({ seq, data: seq });
    sub.gap({ from: 5, reason: 'reset', epoch: 'new', seq: 2 });
    sub.message({ seq: 3, data: 3 });
    const seen: SubscriptionEvent[] = [];
    for (let i = 0; i < 3; i++) seen.push((await it.next()).value as SubscriptionEvent);
    expect(seen.slice(0, 2).map((e) => (e.type === 'message' ? e.seq : e))).toEqual([1, 2]);
    expect(seen[2]).toEqual({ type: 'gap', channel: 'chat.r', from: 1, to: 3, n: 3, reason: 'overflow', epoch: 'new', previous: { epoch: 'old', seq: 2 } });
    sub.message({ seq: 4, data: 4 });
    expect(await it.next()).toMatchObject({ value: { type: 'message', seq: 4 } });
  });

  it('iterates messages and gaps in order, folding what overflows its buffer into one gap', async () => {
    const { sub } = make({ iteratorBufferSize: 3 });
    sub.acknowledged({ epoch: 'e', seq: 0 });
    const it = sub[Symbol.asyncIterator]();
    for (let seq = 1; seq <= 6; seq++) sub.message({ seq, data: seq });
    const seen: SubscriptionEvent[] = [];
    for (let i = 0; i < 4; i++) seen.push((await it.next()).value as SubscriptionEvent);
    expect(seen.map((e) => (e.type === 'message' ? e.seq : `gap ${e.from}-${e.to} ${e.reason}`))).toEqual([1, 2, 3, 'gap 4-6 overflow']);
    const pending = it.next();
    sub.message({ seq: 7, data: 7 });
    expect(await pending).toMatchObject({ done: false, value: { type: 'message', seq: 7 } });
    sub.end();
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });
});

describe('Subscription: a fetch answer is used only where it is valid (its epoch and seq)', () => {
  it('a message of the key older than the answer leaves values alone; an answer of another epoch, or older than a message seen meanwhile, is not used', async () => {
    const answers: Array<(ack: Record<string, any>) => void> = [];
    const owner = { unsubscribe: async () => {}, handlerFailed: (e: unknown) => { throw e; }, query: () => new Promise<Record<string, any>>((resolve) => answers.push(resolve)) };
    const sub = new Subscription<unknown>('ob.x', { snapshot: true, delta: true }, owner);
    sub.acknowledged({ epoch: 'e', seq: 0, snapshot: true });
    sub.snapshotChunk({ epoch: 'e', seq: 0, msgs: [], last: true });
    const msg = (frame: Record<string, unknown>) => sub.message({ ch: 'ob.x', key: 'k', ...frame } as never, JSON.stringify({ ev: 'msg', ch: 'ob.x', key: 'k', ...frame }));
    const whole = (seq: number) => msg({ seq, data: { v: seq } });
    /** A delta on a base the client does not hold: it does not apply, and the key is fetched. */
    const unusable = (seq: number) => msg({ seq, base: 99, delta: 'AAAA' });
    const answer = async (fields: Record<string, unknown>) => {
      answers.shift()!({ ev: 'ack', ch: 'ob.x', key: 'k', ...fields });
      await new Promise((resolve) => setImmediate(resolve));
    };
    whole(1);
    unusable(2);
    await answer({ epoch: 'e', seq: 4, data: { v: 4 } });
    expect(sub.values.get('k')).toEqual({ v: 4 });
    whole(3); // on its way when the answer was read: older than it
    expect(sub.values.get('k')).toEqual({ v: 4 });
    whole(5);
    expect(sub.values.get('k')).toEqual({ v: 5 });

    unusable(6);
    await answer({ epoch: 'other', seq: 9, data: { v: 9 } });
    expect(sub.values.get('k')).toEqual({ v: 5 });

    unusable(7);
    whole(8);
    await answer({ epoch: 'e', seq: 7, del: true });
    expect(sub.values.get('k')).toEqual({ v: 8 });
    expect(answers).toEqual([]);
  });
});
