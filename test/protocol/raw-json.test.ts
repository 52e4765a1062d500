import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { findMember } from '../../src/protocol/raw-json.js';

describe('findMember', () => {
  it('returns the raw text of a member exactly as written (property)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.jsonValue(), fc.constantFrom('', ' ', '\n  '), (rest, data, ws) => {
        const { data: _omit, ...others } = rest;
        const body = JSON.stringify(others, null, ws.length ? 2 : undefined);
        const dataText = JSON.stringify(data, null, ws.length ? 1 : undefined) ?? 'null';
        const text = body === '{}' ? `{${ws}"data"${ws}:${ws}${dataText}${ws}}` : `${body.slice(0, -1)},${ws}"data":${ws}${dataText}${ws}}`;
        const range = findMember(text, 'data');
        expect(range).toBeDefined();
        const raw = text.slice(range![0], range![1]);
        expect(raw).toBe(dataText);
        expect(JSON.parse(raw)).toEqual(JSON.parse(text).data);
      }),
    );
  });

  it('finds escaped keys and takes the last duplicate, like JSON.parse', () => {
    const text = '{"data":1,"d\\u0061ta":[2,"]"],"x":{"data":3}}';
    const range = findMember(text, 'data')!;
    expect(text.slice(range[0], range[1])).toBe('[2,"]"]');
    expect(JSON.parse(text).data).toEqual([2, ']']);
  });

  it('returns undefined when the member is absent', () => {
    expect(findMember('{"a":{"data":1}}', 'data')).toBeUndefined();
  });
});
