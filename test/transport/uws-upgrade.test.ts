import { describe, expect, it } from 'vitest';
import { upgradeLater } from '../../src/transport/uws-transport.js';

/** A stand-in for a uWS object with cork(): records when its cork is entered and left. */
function corkable(name: string, log: string[]) {
  return {
    cork(cb: () => void) {
      log.push(`${name}:cork`);
      cb();
      log.push(`${name}:uncork`);
      return this as never;
    },
  };
}

describe('an upgrade decided later (uws transport)', () => {
  it('runs inside another open WebSocket’s cork, so that the response’s own cork never wraps the upgrade alone', () => {
    const log: string[] = [];
    upgradeLater(corkable('res', log), corkable('holder', log), () => log.push('upgrade'));
    // uWS holds one cork per loop: with the holder corked, res.cork only calls back (uNetworking/uWebSockets#1928).
    expect(log).toEqual(['holder:cork', 'res:cork', 'upgrade', 'res:uncork', 'holder:uncork']);
  });

  it('runs uncorked when no WebSocket is open, never inside the response’s cork alone', () => {
    const log: string[] = [];
    upgradeLater(corkable('res', log), undefined, () => log.push('upgrade'));
    expect(log).toEqual(['upgrade']);
  });
});
