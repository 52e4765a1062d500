import { afterEach, describe, expect, it } from 'vitest';
import type { UwsApp, UwsWebSocket } from '../../src/transport/uws-api.js';
import { ANCHOR_TOPIC, TOPIC_BYTES_PER_TURN, TOPIC_LIGHT_PUBLICATIONS, TOPIC_PUBLICATIONS_PER_TURN, UwsTopics, type TopicMember } from '../../src/transport/uws-topics.js';

/** Records, in one list, what reaches uWS: publications and (un)subscriptions, in call order. */
function fakes(): { log: string[]; app: UwsApp; ws: (name: string) => UwsWebSocket<unknown> } {
  const log: string[] = [];
  const app = { publish: (topic: string, message: Buffer) => log.push(`pub ${topic} ${message.toString()}`) > 0 } as unknown as UwsApp;
  const ws = (name: string) =>
    ({
      subscribe: (topic: string) => log.push(`${name} sub ${topic}`) > 0,
      unsubscribe: (topic: string) => log.push(`${name} unsub ${topic}`) > 0,
    }) as unknown as UwsWebSocket<unknown>;
  return { log, app, ws };
}

const member = (): TopicMember & { reads: number } => ({
  reads: 0,
  checkBackpressure() {
    this.reads++;
  },
});

/** The turn's flush (setImmediate) has run. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('UwsTopics', () => {
  let topics: UwsTopics | undefined;
  afterEach(() => topics?.close());

  it('hands a turn’s publications to uWS at its flush, in order; none for a topic without members', async () => {
    const { log, app, ws } = fakes();
    topics = new UwsTopics(app, false, 1 << 20);
    topics.join(member(), ws('a'), 't1');
    topics.join(member(), ws('b'), 't2');
    expect(topics.publish('none', Buffer.from('x'), 1)).toBe(false);
    log.length = 0;
    expect(topics.publish('t1', Buffer.from('1'), 1)).toBe(true);
    expect(topics.publish('t2', Buffer.from('2'), 1)).toBe(true);
    expect(topics.publish('t1', Buffer.from('3'), 1)).toBe(true);
    expect(log).toEqual([]);
    await nextTurn();
    expect(log).toEqual(['pub t1 1', 'pub t2 2', 'pub t1 3']);
  });

  it('a socket joins the anchor topic with its first; a join or leave hands the pending publications over first', async () => {
    const { log, app, ws } = fakes();
    topics = new UwsTopics(app, false, 1 << 20);
    const a = member();
    topics.join(a, ws('a'), 't');
    topics.join(a, ws('a'), 'u');
    topics.publish('t', Buffer.from('1'), 1);
    topics.join(member(), ws('b'), 't');
    topics.publish('t', Buffer.from('2'), 1);
    topics.leave(a, ws('a'), 't');
    topics.leave(a, ws('a'), 't');
    await nextTurn();
    expect(log).toEqual([`a sub ${ANCHOR_TOPIC}`, 'a sub t', 'a sub u', 'pub t 1', `b sub ${ANCHOR_TOPIC}`, 'b sub t', 'pub t 2', 'a unsub t']);
  });

  it('takes at most its share of a turn (publications and bytes); a topic offered more takes none the next turn', async () => {
    const { app, ws } = fakes();
    topics = new UwsTopics(app, false, 1 << 20);
    topics.join(member(), ws('a'), 't');
    const taken = () => {
      let n = 0;
      for (let i = 0; i < 40; i++) if (topics!.publish('t', Buffer.from('x'), 10)) n++;
      return n;
    };
    expect(taken()).toBe(TOPIC_PUBLICATIONS_PER_TURN);
    await nextTurn();
    expect(topics.publish('t', Buffer.from('x'), 10)).toBe(false);
    await nextTurn();
    expect(topics.publish('t', Buffer.from('x'), TOPIC_BYTES_PER_TURN)).toBe(true);
    expect(topics.publish('t', Buffer.from('x'), 1)).toBe(false);
    await nextTurn();
    expect(topics.publish('t', Buffer.from('x'), 1)).toBe(false);
    await nextTurn();
    expect(taken()).toBe(TOPIC_PUBLICATIONS_PER_TURN);
  });

  it('a heavy topic stays per subscriber while its turns are not light, and takes again after a light one', async () => {
    const { app, ws } = fakes();
    topics = new UwsTopics(app, false, 1 << 20);
    topics.join(member(), ws('a'), 't');
    const offer = (n: number) => {
      let taken = 0;
      for (let i = 0; i < n; i++) if (topics!.publish('t', Buffer.from('x'), 10)) taken++;
      return taken;
    };
    expect(offer(TOPIC_PUBLICATIONS_PER_TURN + 1)).toBe(TOPIC_PUBLICATIONS_PER_TURN);
    // Within a turn's share but above light: a channel at a high rate does not go back and forth.
    for (let turn = 0; turn < 5; turn++) {
      await nextTurn();
      expect(offer(TOPIC_LIGHT_PUBLICATIONS + 1)).toBe(0);
    }
    await nextTurn();
    expect(offer(TOPIC_LIGHT_PUBLICATIONS)).toBe(0);
    await nextTurn();
    expect(offer(TOPIC_LIGHT_PUBLICATIONS + 1)).toBe(TOPIC_LIGHT_PUBLICATIONS + 1);
  });

  it('reads its members’ backpressure at each flush that published several to the topic and every checkBytes published, and forgets a closed member', async () => {
    const { app, ws } = fakes();
    topics = new UwsTopics(app, false, 100);
    const [a, b] = [member(), member()];
    topics.join(a, ws('a'), 't');
    topics.join(b, ws('b'), 't');
    for (let i = 0; i < 4; i++) topics.publish('t', Buffer.from('x'), 40);
    await nextTurn();
    // Once at 120 bytes, once for the turn.
    expect([a.reads, b.reads]).toEqual([2, 2]);
    topics.closed(a);
    topics.publish('t', Buffer.from('x'), 10);
    topics.publish('t', Buffer.from('x'), 10);
    await nextTurn();
    expect([a.reads, b.reads]).toEqual([2, 3]);
    await nextTurn();
    expect([a.reads, b.reads]).toEqual([2, 3]);
    expect(topics.pendingFor(b)).toBe(0);
    topics.publish('t', Buffer.from('x'), 40);
    expect(topics.pendingFor(b)).toBe(40);
  });

  it('at one publication a turn reads its members only every checkBytes: each frame costs every member a write then anyway, and a read per member each publication cost ~4.5% of the gateway’s CPU samples at 100k deliveries/s', async () => {
    const { app, ws } = fakes();
    topics = new UwsTopics(app, false, 100);
    const a = member();
    topics.join(a, ws('a'), 't');
    for (let turn = 0; turn < 4; turn++) {
      topics.publish('t', Buffer.from('x'), 30);
      await nextTurn();
    }
    // 120 bytes: one read, at the fourth publication (the third left 90 unread).
    expect(a.reads).toBe(1);
    for (let turn = 0; turn < 2; turn++) {
      topics.publish('t', Buffer.from('x'), 30);
      await nextTurn();
    }
    expect(a.reads).toBe(1);
  });
});
