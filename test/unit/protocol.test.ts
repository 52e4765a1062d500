import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { findMember } from '../../src/protocol/raw-json.js';
import { decodeRequest } from '../../src/protocol/requests.js';
import { encodeMessage } from '../../src/protocol/frames.js';

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

describe('decodeRequest', () => {
  it('decodes every op', () => {
    expect(decodeRequest('{"op":"sub","ch":"a.b","id":1,"since":{"epoch":"e","seq":3}}')).toEqual({
      ok: true,
      request: { op: 'sub', ch: 'a.b', id: 1, since: { epoch: 'e', seq: 3 } },
    });
    expect(decodeRequest('{"op":"unsub","ch":"a.b"}')).toEqual({ ok: true, request: { op: 'unsub', ch: 'a.b' } });
    expect(decodeRequest('{"op":"pub","ch":"a","key":"k","data":{"x" : [1]},"id":"r1"}')).toEqual({
      ok: true,
      request: { op: 'pub', ch: 'a', key: 'k', id: 'r1', rawData: '{"x" : [1]}' },
    });
    expect(decodeRequest('{"op":"ping"}')).toEqual({ ok: true, request: { op: 'ping' } });
  });

  it('never throws, whatever the input (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null')), (text) => {
        const result = decodeRequest(text);
        if (!result.ok) expect(['bad_json', 'bad_frame', 'unknown_op', 'bad_channel']).toContain(result.code);
      }),
    );
  });

  it('keeps unicode data intact through decode and encode', () => {
    const decoded = decodeRequest('{"op":"pub","ch":"a","data":"héllo ✓ 🚀"}');
    expect(decoded.ok).toBe(true);
    if (decoded.ok && decoded.request.op === 'pub') {
      const frame = encodeMessage('a', 1, undefined, decoded.request.rawData);
      expect(JSON.parse(frame.toString('utf8'))).toEqual({ ev: 'msg', ch: 'a', seq: 1, data: 'héllo ✓ 🚀' });
    }
  });
});
