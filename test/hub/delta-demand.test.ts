import { applyDelta } from 'fossil-delta';
import { describe, expect, it } from 'vitest';
import { MemoryBroker } from '../../src/broker/memory-broker.js';
import { ChannelRules } from '../../src/config/channel-rules.js';
import { loadConfig } from '../../src/config/load.js';
import { DELIVERY, type DeliveryOutcome, type JoinOutcome, type Subscriber } from '../../src/hub/channel.js';
import { Hub } from '../../src/hub/hub.js';
import { DeltaTracker } from '../../src/session/delta-tracker.js';
import { dataOf } from '../../src/stream/delta.js';
import type { Publication } from '../../src/stream/publication.js';
import { MemoryBudget, unmeteredPool } from '../../src/util/memory-budget.js';
import { silentLogger } from '../helpers/gateway.js';

/** A value of ~600 bytes that changes a little with `v`, so its delta is much smaller than it. */
const value = (v: number) => JSON.stringify({ v, rows: Array.from({ length: 40 }, (_, i) => [i, i === v % 40 ? v : i * 3]) });

/** A subscriber that rebuilds each value as a client would: from the delta when it is given one, else whole. */
class Holder implements Subscriber {
  readonly tracker = new DeltaTracker(unmeteredPool('keyed'));
  /** Per delivery: whether the node had made a delta of it, and what this subscriber was given. */
  readonly got: Array<{ made: boolean; given: 'delta' | 'whole'; text: string }> = [];
  private held = '';
  readonly wantsState = false;
  constructor(readonly wantsDeltas: boolean) {}
  joined(_outcome: JoinOutcome): void {}
  deliver(pub: Publication): DeliveryOutcome {
    const delta = this.wantsDeltas ? this.tracker.choose(pub) : undefined;
    const text =
      delta === undefined ? dataOf(pub).toString() : Buffer.from(applyDelta(Buffer.from(this.held), Buffer.from(/"delta":"([^"]*)"/.exec(delta.encoded.toString())![1]!, 'base64'))).toString();
    this.held = text;
    this.got.push({ made: pub.delta !== undefined, given: delta === undefined ? 'whole' : 'delta', text });
    return DELIVERY.written;
  }
  replay(pubs: readonly Publication[]): void {
    for (const pub of pubs) this.deliver(pub);
  }
  snapshot(): void {}
  restate(): void {}
}

function setup() {
  const budget = new MemoryBudget(0, { now: () => 0, later: () => {} });
  const broker = new MemoryBroker(() => 0, 0, budget.pools.history, budget.pools.keyed);
  const hub = new Hub({
    rules: new ChannelRules(loadConfig({ overrides: { channels: [{ pattern: 'd', keyed: true, delta: true }] } })),
    maxChannels: 10,
    budget,
    prepare: (p) => p,
    clock: () => 0,
    broker,
    maxJoinBuffer: 100,
    log: silentLogger(),
  });
  broker.start(hub);
  const channel = hub.channel('d')!;
  return {
    hub,
    channel,
    publish(v: number): void {
      const r = hub.publish('d', 'K', value(v));
      if (r instanceof Promise || !r.ok) throw new Error('publish failed');
    },
  };
}

describe('deltas are made only while a subscriber on the node asked for them', () => {
  it('none without a delta subscriber; from the first one on, a joiner gets whole values first, then deltas that rebuild every value; none again once it left', () => {
    const { hub, channel, publish } = setup();
    const plain = new Holder(false);
    hub.subscribe(channel, plain);
    for (let v = 1; v <= 3; v++) publish(v);
    expect(plain.got.map((g) => g.made)).toEqual([false, false, false]);

    const late = new Holder(true);
    hub.subscribe(channel, late);
    expect(channel.deltaSubscribers).toBe(1);
    for (let v = 4; v <= 6; v++) publish(v);
    // The base of the first delta made (value 3) never reached the joiner: it gets value 4 whole.
    expect(late.got.map((g) => [g.made, g.given])).toEqual([
      [true, 'whole'],
      [true, 'delta'],
      [true, 'delta'],
    ]);
    expect(late.got.map((g) => g.text)).toEqual([4, 5, 6].map(value));
    expect(plain.got.slice(3).map((g) => g.given)).toEqual(['whole', 'whole', 'whole']);

    hub.unsubscribe(channel, late);
    expect(channel.deltaSubscribers).toBe(0);
    publish(7);
    expect(plain.got.at(-1)).toMatchObject({ made: false, text: value(7) });
  });
});
