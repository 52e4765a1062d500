import { describe, expect, it } from 'vitest';
import { ChannelRules } from '../../src/config/channel-rules.js';
import { loadConfig } from '../../src/config/load.js';

describe('ChannelRules', () => {
  const config = loadConfig({
    overrides: {
      channelDefaults: { policy: 'disconnect', historySize: 100 },
      channels: [
        { pattern: 'market.*', policy: 'conflate', historySize: 1 },
        { pattern: 'chat.vip.*', historySize: 5000 },
        { pattern: 'chat.*', historySize: 1000 },
        { pattern: 'exact', policy: 'drop-newest' },
      ],
    },
  });
  const rules = new ChannelRules(config);

  it('applies the first matching pattern, filling gaps from the defaults', () => {
    expect(rules.settingsFor('market.BTC')).toMatchObject({ policy: 'conflate', historySize: 1, pattern: 'market.*' });
    expect(rules.settingsFor('chat.vip.1')).toMatchObject({ policy: 'disconnect', historySize: 5000 });
    expect(rules.settingsFor('chat.room')).toMatchObject({ historySize: 1000 });
    expect(rules.settingsFor('exact')).toMatchObject({ policy: 'drop-newest' });
    expect(rules.settingsFor('exactly')).toMatchObject({ pattern: '*', policy: 'disconnect', historySize: 100 });
  });

  it('treats dots and other characters in patterns literally', () => {
    expect(rules.settingsFor('marketXBTC').pattern).toBe('*');
  });

  it('shares one settings object per rule (no per-channel copies)', () => {
    expect(rules.settingsFor('market.A')).toBe(rules.settingsFor('market.B'));
  });

  it('matches crafted names against many-wildcard patterns in at most (pattern + 1) × (name + 1) steps', () => {
    const crafted = loadConfig({ overrides: { channels: [{ pattern: '*.*.*.*.*.*.z', historySize: 1 }, { pattern: '*.*.*.prices', historySize: 2 }] } });
    const craftedRules = new ChannelRules(crafted);
    for (const [text, historySize] of [[`${'.'.repeat(127)}y`, 100], [`${'.'.repeat(127)}z`, 1], [`${'a.'.repeat(60)}prices`, 2]] as const) {
      const name = countingName(text);
      expect(craftedRules.settingsFor(name as unknown as string).historySize).toBe(historySize);
      expect(name.reads).toBeGreaterThan(0);
      expect(name.reads).toBeLessThanOrEqual(2 * ('*.*.*.*.*.*.z'.length + 1) * (text.length + 1));
    }
  });
});

/** A channel name that counts the characters a matcher reads from it: the matcher's steps, not its time. */
function countingName(text: string): { readonly length: number; reads: number; charCodeAt(i: number): number } {
  return {
    length: text.length,
    reads: 0,
    charCodeAt(i: number) {
      this.reads++;
      return text.charCodeAt(i);
    },
  };
}
