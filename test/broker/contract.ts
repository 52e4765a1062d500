import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/broker/broker.js';
import { channelFactory, historyOf, RecordingEvents } from './fixtures.js';

/** A broker under the contract: how to start its backend once, make a broker, and stop the backend. */
export interface Implementation {
  readonly name: string;
  setup(): Promise<void>;
  create(): Promise<Broker>;
  teardown(): Promise<void>;
}

/** The same contract, run over every broker. */
export function brokerContract(impl: Implementation): void {
  describe(`broker contract [${impl.name}]`, () => {
    const channel = channelFactory({
      channels: [
        { pattern: 'small.*', historySize: 5 },
        { pattern: 'bytes.*', historySize: 100, historyMaxBytes: 5500 },
      ],
    });
    let broker: Broker;
    let events: RecordingEvents;
    let n = 0;
    /** A channel name no other test used (a shared Redis keeps streams between tests). */
    const fresh = (prefix = 'c'): string => `${prefix}.${process.pid}.${Date.now()}.${++n}`;

    beforeAll(() => impl.setup());
    afterAll(() => impl.teardown());
    const start = async (): Promise<void> => {
      broker = await impl.create();
      events = new RecordingEvents();
      broker.start(events);
      await events.until(() => broker.ready);
    };
    afterEach(async () => {
      await broker?.close();
    });

    it('assigns consecutive seqs from 1 within one epoch and hands them in order to a subscribed node', async () => {
      await start();
      const ch = channel(fresh());
      expect(await broker.subscribe(ch.name)).toBe(true);
      const seqs: number[] = [];
      for (let i = 0; i < 20; i++) {
        const r = events.published(await broker.publish(ch.name, ch.settings, i % 2 ? 'k' : undefined, JSON.stringify({ i })));
        expect(r.ok).toBe(true);
        if (r.ok) seqs.push(r.seq);
      }
      expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      await events.until(() => events.delivered.length === 20);
      expect(events.delivered.map((p) => p.seq)).toEqual(seqs);
      expect(new Set(events.delivered.map((p) => p.epoch)).size).toBe(1);
      expect(events.delivered[3]!.encoded.toString()).toBe('{"i":3}');
      expect(events.delivered[3]!.key).toBe('k');
      expect(events.delivered[2]!.key).toBeUndefined();
    });

    it('answers the position, and with since every publication after it when history holds them all', async () => {
      await start();
      const ch = channel(fresh());
      const empty = await historyOf(broker, ch);
      expect(empty.position.seq).toBe(0);
      for (let i = 1; i <= 8; i++) events.published(await broker.publish(ch.name, ch.settings, undefined, String(i)));
      const { position } = await historyOf(broker, ch);
      expect(position.seq).toBe(8);
      // The position read before the first publish continues into the stream that publish began.
      const fromEmpty = await historyOf(broker, ch, empty.position);
      expect(fromEmpty).toMatchObject({ recovered: true, position });
      expect(fromEmpty.publications.map((p) => p.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);

      const after5 = await historyOf(broker, ch, { epoch: position.epoch, seq: 5 });
      expect(after5.recovered).toBe(true);
      expect(after5.publications.map((p) => [p.seq, p.encoded.toString()])).toEqual([[6, '6'], [7, '7'], [8, '8']]);
      const atTop = await historyOf(broker, ch, { epoch: position.epoch, seq: 8 });
      expect(atTop).toMatchObject({ recovered: true, publications: [] });
      expect(await historyOf(broker, ch, { epoch: 'other', seq: 5 })).toMatchObject({ recovered: false, publications: [], position });
      expect(await historyOf(broker, ch, { epoch: position.epoch, seq: 9 })).toMatchObject({ recovered: false });
    });

    it('bounds history by the channel pattern size: older positions cannot be recovered', async () => {
      await start();
      const ch = channel(fresh('small'));
      for (let i = 1; i <= 12; i++) events.published(await broker.publish(ch.name, ch.settings, undefined, String(i)));
      const { position } = await historyOf(broker, ch);
      expect(await historyOf(broker, ch, { epoch: position.epoch, seq: 6 })).toMatchObject({ recovered: false });
      const fromSeven = await historyOf(broker, ch, { epoch: position.epoch, seq: 7 });
      expect(fromSeven.recovered).toBe(true);
      expect(fromSeven.publications.map((p) => p.seq)).toEqual([8, 9, 10, 11, 12]);
    });

    it('bounds history by historyMaxBytes too, keeping at least the newest entry', async () => {
      await start();
      const ch = channel(fresh('bytes'));
      // 1,000 bytes each (as a history entry on Redis, a few more): five fit in 5,500, six do not.
      const data = JSON.stringify('x'.repeat(998));
      for (let i = 1; i <= 20; i++) events.published(await broker.publish(ch.name, ch.settings, undefined, data));
      const { position } = await historyOf(broker, ch);
      expect(await historyOf(broker, ch, { epoch: position.epoch, seq: 14 })).toMatchObject({ recovered: false });
      expect((await historyOf(broker, ch, { epoch: position.epoch, seq: 15 })).publications.map((p) => p.seq)).toEqual([16, 17, 18, 19, 20]);
      events.published(await broker.publish(ch.name, ch.settings, undefined, JSON.stringify('y'.repeat(9000))));
      expect(await historyOf(broker, ch, { epoch: position.epoch, seq: 19 })).toMatchObject({ recovered: false });
      expect((await historyOf(broker, ch, { epoch: position.epoch, seq: 20 })).publications.map((p) => p.seq)).toEqual([21]);
      // The bound holds on after the large one left.
      for (let i = 22; i <= 30; i++) events.published(await broker.publish(ch.name, ch.settings, undefined, data));
      expect((await historyOf(broker, ch, { epoch: position.epoch, seq: 21 }, true)).publications.map((p) => p.seq)).toEqual([26, 27, 28, 29, 30]);
    });

    it('with tail, answers what history still holds of a range it no longer holds whole', async () => {
      await start();
      const ch = channel(fresh('small'));
      for (let i = 1; i <= 12; i++) events.published(await broker.publish(ch.name, ch.settings, undefined, String(i)));
      const { position } = await historyOf(broker, ch);
      const tail = await historyOf(broker, ch, { epoch: position.epoch, seq: 2 }, true);
      expect(tail).toMatchObject({ recovered: false, position });
      expect(tail.publications.map((p) => [p.seq, p.encoded.toString()])).toEqual([[8, '8'], [9, '9'], [10, '10'], [11, '11'], [12, '12']]);
      expect((await historyOf(broker, ch, { epoch: position.epoch, seq: 9 }, true)).publications.map((p) => p.seq)).toEqual([10, 11, 12]);
      expect(await historyOf(broker, ch, { epoch: position.epoch, seq: 2 })).toMatchObject({ recovered: false, publications: [] });
      expect(await historyOf(broker, ch, { epoch: 'other', seq: 2 }, true)).toMatchObject({ recovered: false, publications: [] });
    });

    it('publishes many at once in order, per channel, each answered with its own seq', async () => {
      await start();
      const a = channel(fresh());
      const b = channel(fresh());
      await broker.subscribe(a.name);
      await broker.subscribe(b.name);
      const outcomes = await Promise.all(Array.from({ length: 40 }, (_, i) => broker.publish(i % 2 ? b.name : a.name, a.settings, undefined, String(i))));
      for (const o of outcomes) events.published(o);
      expect(outcomes.map((o) => (o.ok ? o.seq : o.code))).toEqual(Array.from({ length: 40 }, (_, i) => Math.floor(i / 2) + 1));
      await events.until(() => events.delivered.length === 40);
      const of = (ch: string) => events.delivered.filter((p) => p.channel === ch).map((p) => [p.seq, p.encoded.toString()]);
      expect(of(a.name)).toEqual(Array.from({ length: 20 }, (_, i) => [i + 1, String(2 * i)]));
      expect(of(b.name)).toEqual(Array.from({ length: 20 }, (_, i) => [i + 1, String(2 * i + 1)]));
    });

    it('publishes a pid once: repeating a recent pid answers the seq its publication was given', async () => {
      await start();
      const ch = channel(fresh());
      await broker.subscribe(ch.name);
      const seqs: Array<number | string> = [];
      for (const [data, pid] of [['"a"', 'p1'], ['"b"', 'p2'], ['"a"', 'p1'], ['"c"', undefined], ['"b"', 'p2']] as const) {
        const o = events.published(await broker.publish(ch.name, ch.settings, undefined, data, pid));
        seqs.push(o.ok ? o.seq : o.code);
      }
      expect(seqs).toEqual([1, 2, 1, 3, 2]);
      await events.until(() => events.delivered.length >= 3);
      expect((await historyOf(broker, ch)).position.seq).toBe(3);
      expect(events.delivered.map((p) => p.encoded.toString())).toEqual(['"a"', '"b"', '"c"']);
    });

    it('keeps channels apart', async () => {
      await start();
      const a = channel(fresh());
      const b = channel(fresh());
      await broker.subscribe(a.name);
      events.published(await broker.publish(a.name, a.settings, undefined, '1'));
      events.published(await broker.publish(b.name, b.settings, undefined, '1'));
      const r = events.published(await broker.publish(a.name, a.settings, undefined, '2'));
      expect(r).toMatchObject({ ok: true, seq: 2 });
      expect((await historyOf(broker, b)).position.seq).toBe(1);
    });
  });
}
