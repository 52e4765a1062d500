import { describe, expect, it } from 'vitest';
import { TestKeys } from '../helpers/tokens.js';
import { TRANSPORTS } from '../helpers/transports.js';
import { until } from '../../devkit/until.js';
import { collector, harness } from './support.js';

/** The client when an in-band token refresh takes a channel away: that subscription ends, loudly. */
describe.each(TRANSPORTS)('client: a subscription revoked by a token refresh [%s]', (transport) => {
  const h = harness(transport);
  const now = () => Math.floor(Date.now() / 1000);

  it('ends the revoked subscription through onError, keeps the others, and counts the refresh as done', async () => {
    const keys = await TestKeys.generate();
    const gw = await h.gateway({ auth: { keys: keys.config, namespaces: [{ pattern: 'chat.*', subscribe: 'granted', publish: 'granted' }] } });
    const publisher = h.client(gw.url, { token: await keys.sign({ sub: 'pub', sluice: { pub: ['chat.*'] } }) });
    // The first token lives 2 s and grants both rooms; its refresh, due at half its life, grants only chat.b.
    const tokens = [
      await keys.sign({ sub: 'carol', exp: now() + 2, sluice: { sub: ['chat.a', 'chat.b'] } }),
      await keys.sign({ sub: 'carol', sluice: { sub: ['chat.b'] } }),
    ];
    const carol = h.client(gw.url, { getToken: () => tokens.shift()!, refreshBeforeExpiryMs: 60_000 });
    let settle!: (outcome: { via: string; error: unknown }) => void;
    const outcome = new Promise<{ via: string; error: unknown }>((resolve) => (settle = resolve));
    carol.on('error', ({ error }) => settle({ via: 'error event', error }));
    const a = collector();
    const b = collector();
    const subA = carol.subscribe('chat.a', { ...a, onError: (error) => settle({ via: 'onError', error }) });
    const subB = carol.subscribe('chat.b', b);
    await Promise.all([subA.ready, subB.ready]);

    const { via, error } = await outcome;
    expect(via).toBe('onError');
    expect(error).toMatchObject({ code: 'forbidden' });
    expect(subA.state).toBe('ended');
    expect(subB.state).toBe('active');
    await until(() => carol.counters.tokenRefreshes === 1, 'the refresh to be acknowledged');

    await publisher.publish('chat.a', 'gone');
    await publisher.publish('chat.b', 'kept');
    await b.until(1);
    expect(a.seqs).toEqual([]);
    expect(b.seqs).toEqual([1]);
    expect(carol.counters).toMatchObject({ connects: 1, disconnects: 0 });
  });
});
