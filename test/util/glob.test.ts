import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { globMatch } from '../../src/util/glob.js';

/** The reference semantics, as a regular expression: fine for the short strings generated here. */
const referenceRegex = (pattern: string) => new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);

describe('glob matching', () => {
  it('agrees with the anchored regular expression of the same pattern', () => {
    const alphabet = fc.constantFrom('a', 'b', '.', ':', '*');
    fc.assert(
      fc.property(fc.string({ unit: alphabet, maxLength: 8 }), fc.string({ unit: fc.constantFrom('a', 'b', '.', ':'), maxLength: 10 }), (pattern, name) => {
        expect(globMatch(pattern, name)).toBe(referenceRegex(pattern).test(name));
      }),
      { numRuns: 2000 },
    );
  });

  it('matches a hostile pattern against a long name without blowing up', () => {
    const pattern = `${'*a'.repeat(60)}b`;
    expect(globMatch(pattern, 'a'.repeat(128))).toBe(false);
  });
});
