import { describe, expect, it } from 'vitest';
import { ChannelRules } from '../../src/config/channel-rules.js';
import { loadConfig } from '../../src/config/load.js';
import { Presence, type PresenceWatcher } from '../../src/presence/presence.js';
import type { Publication } from '../../src/stream/publication.js';
import { manualClock } from '../helpers/clock.js';

function setup(intervalMs = 1000, maxEventsPerFrame = 1000) {
  const config = loadConfig({ overrides: { channels: [{ pattern: 'room.*', presence: true, presenceIntervalMs: intervalMs }] } });
  const rules = new ChannelRules(config);
  const clock = manualClock();
  const presence = new Presence({ settings: { pageSize: 100, maxEventsPerFrame }, rules, clock, prepare: (b) => b, tickMs: 1000 });
  const settings = rules.settingsFor('room.1');
  const watcher = (): PresenceWatcher & { frames: Array<Record<string, unknown>>; raw: Publication[] } => {
    const frames: Array<Record<string, unknown>> = [];
    const raw: Publication[] = [];
    return { frames, raw, deliverPresence: (f) => (raw.push(f), frames.push(JSON.parse(f.encoded.toString()))) };
  };
  return { presence, clock, settings, watcher };
}

describe('Presence', () => {
  it('sends one frame per interval with every join and leave, coalesced, and the count only when it changed', () => {
    const { presence, clock, settings, watcher } = setup();
    const w = watcher();
    const counter = watcher();
    presence.watch('room.1', settings, w, 'presence');
    presence.watch('room.1', settings, counter, 'occupancy');
    presence.join('room.1', settings, 'alice', '{"n":"A"}');
    presence.join('room.1', settings, 'bob', undefined);
    presence.join('room.1', settings, 'eve', undefined);
    presence.leave('room.1', 'eve'); // joined and left within the interval: nothing
    presence.tick();
    expect(w.frames).toEqual([
      { ev: 'presence', ch: 'room.1', join: [{ id: 'alice', info: { n: 'A' } }, { id: 'bob' }], leave: [] },
      { ev: 'occupancy', ch: 'room.1', total: 2 },
    ]);
    expect(counter.frames).toEqual([{ ev: 'occupancy', ch: 'room.1', total: 2 }]);
    // The same shared frame object reaches every watcher.
    expect(counter.raw[0]).toBe(w.raw[1]);

    // Within the interval nothing is sent, however much changes.
    presence.leave('room.1', 'bob');
    presence.join('room.1', settings, 'carol', undefined);
    clock.advance(400);
    presence.tick();
    expect(w.frames).toHaveLength(2);
    clock.advance(600);
    presence.tick();
    // One leave and one join: the count did not change, so no occupancy frame.
    expect(w.frames.slice(2)).toEqual([{ ev: 'presence', ch: 'room.1', join: [{ id: 'carol' }], leave: ['bob'] }]);
    expect(counter.frames).toHaveLength(1);
    presence.close();
  });

  it('carries what does not fit in one frame to the next interval, and sends at once with interval 0', () => {
    const { presence, clock, settings, watcher } = setup(1000, 2);
    const w = watcher();
    presence.watch('room.1', settings, w, 'presence');
    for (const id of ['a', 'b', 'c']) presence.join('room.1', settings, id, undefined);
    presence.tick();
    expect(w.frames[0]).toMatchObject({ join: [{ id: 'a' }, { id: 'b' }] });
    clock.advance(1000);
    presence.tick();
    expect(w.frames.filter((f) => f.ev === 'presence').map((f) => f.join)).toEqual([[{ id: 'a' }, { id: 'b' }], [{ id: 'c' }]]);
    presence.close();

    const instant = setup(0);
    const v = instant.watcher();
    instant.presence.watch('room.1', instant.settings, v, 'presence');
    instant.presence.join('room.1', instant.settings, 'a', undefined);
    instant.presence.leave('room.1', 'a');
    expect(v.frames.map((f) => f.ev)).toEqual(['presence', 'occupancy', 'presence', 'occupancy']);
  });

  it('admits a new identity only below maxMembers, and forgets a channel nobody is in', () => {
    const config = loadConfig({ overrides: { channels: [{ pattern: '*', presence: true, maxMembers: 1 }] } });
    const rules = new ChannelRules(config);
    const presence = new Presence({ settings: { pageSize: 100, maxEventsPerFrame: 10 }, rules, clock: manualClock(), prepare: (b) => b, tickMs: 1000 });
    const settings = rules.settingsFor('x');
    presence.join('x', settings, 'alice', undefined);
    expect(presence.admits('x', settings, 'bob')).toBe(false);
    expect(presence.admits('x', settings, 'alice')).toBe(true);
    presence.leave('x', 'alice');
    presence.tick();
    expect(presence.get('x')).toBeUndefined();
    expect(presence.channelCount).toBe(0);
    presence.close();
  });
});
