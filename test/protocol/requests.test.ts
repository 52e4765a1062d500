import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeRequest, decodeRequestBySchema, peekRequestId } from '../../src/protocol/requests.js';
import { encodeFetchAck, encodeMessage } from '../../src/protocol/frames.js';

/** A generated request field: mostly `valid`, sometimes any other value of `anyValue`, sometimes absent. */
const fieldOf =
  (anyValue: fc.Arbitrary<unknown>) =>
  <T>(valid: fc.Arbitrary<T>, absent = 2) =>
    fc.option(fc.oneof({ weight: 6, arbitrary: valid as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: anyValue }), { nil: undefined, freq: absent });

/**
 * Holds `decodeRequest`'s hand path for `op` to the schema on 2,000 generated frames (JSON indented
 * by each of `indents`): the same request, or the same error; and the frames reach both sides,
 * accepted ones (the hand path) and refused ones (the schema's errors).
 */
function holdsToSchema(op: string, frame: fc.Arbitrary<Record<string, unknown>>, indents: number[]): void {
  let fast = 0;
  fc.assert(
    fc.property(frame, fc.constantFrom(...indents), (fields, indent) => {
      const json = JSON.stringify({ op, ...fields }, null, indent);
      const decoded = decodeRequest(json);
      expect(decoded).toEqual(decodeRequestBySchema(json));
      if (decoded.ok) fast++;
    }),
    { numRuns: 2000 },
  );
  expect(fast).toBeGreaterThan(100);
  expect(fast).toBeLessThan(1900);
}

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

  it('echoes an id only when it is a non-negative safe integer or a string of at most 64 characters, in refusals as in errors (property)', () => {
    const valid = (id: unknown) => (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) || (typeof id === 'string' && id.length <= 64);
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 70 }), fc.constant(Number.MAX_SAFE_INTEGER + 1), fc.jsonValue()), (id) => {
        const text = JSON.stringify({ op: 'nope', id });
        const expected = valid(JSON.parse(text).id) ? JSON.parse(text).id : undefined;
        expect(peekRequestId(text)).toEqual(expected);
        const decoded = decodeRequest(text);
        expect(decoded.ok ? undefined : decoded.id).toEqual(expected);
      }),
    );
  });

  it('decodes a publish request by hand exactly as its schema does: the same request, or the same error (property)', () => {
    const text = (maxLength: number) => fc.string({ minLength: 0, maxLength });
    const anyValue = fc.oneof(fc.jsonValue(), fc.constant(null), fc.boolean(), fc.double(), fc.integer());
    const field = fieldOf(anyValue);
    const frame = fc.record(
      {
        ch: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('a', 'prices.EURUSD', 'x'.repeat(128), 'x'.repeat(129), 'bad name', '') }, { weight: 1, arbitrary: anyValue }),
        id: field(fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER), fc.constant(Number.MAX_SAFE_INTEGER + 1), fc.constant(-1), fc.constant(1.5), text(70))),
        key: field(fc.oneof(text(130), fc.constant('x'.repeat(128)), fc.constant('x'.repeat(129)))),
        pid: field(fc.oneof(text(70), fc.constant('x'.repeat(64)), fc.constant('x'.repeat(65)))),
        del: field(fc.constantFrom(true, false)),
        data: field(fc.jsonValue(), 8),
        extra: field(fc.jsonValue()),
      },
      { requiredKeys: [] },
    );
    holdsToSchema('pub', frame, [0, 1]);
  });

  it('decodes a receive window report by hand exactly as its schema does (property)', () => {
    const field = fieldOf(fc.oneof(fc.jsonValue(), fc.constant(null), fc.boolean(), fc.double(), fc.integer(), fc.string({ maxLength: 3 })));
    const frame = fc.record(
      {
        bytes: field(fc.oneof(fc.nat(), fc.constant(0), fc.constant(Number.MAX_SAFE_INTEGER), fc.constant(Number.MAX_SAFE_INTEGER + 1), fc.constant(-1), fc.constant(1.5)), 8),
        id: field(fc.oneof(fc.nat(), fc.constant(-1), fc.constant(1.5), fc.string({ maxLength: 70 }))),
        extra: field(fc.jsonValue()),
      },
      { requiredKeys: [] },
    );
    holdsToSchema('recv', frame, [0]);
  });

  it('keeps unicode data intact through decode and encode', () => {
    const decoded = decodeRequest('{"op":"pub","ch":"a","data":"héllo ✓ 🚀"}');
    expect(decoded.ok).toBe(true);
    if (decoded.ok && decoded.request.op === 'pub') {
      const frame = encodeMessage('a', 1, undefined, decoded.request.rawData);
      expect(JSON.parse(frame.toString('utf8'))).toEqual({ ev: 'msg', ch: 'a', seq: 1, data: 'héllo ✓ 🚀' });
    }
  });

  it('encodes any published JSON, however indented, as a frame of one line with the same value (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(0, 1, 2, '\t', '\r\n '), (value, indent) => {
        const text = JSON.stringify({ op: 'pub', ch: 'a', data: value }, null, indent as string | number);
        const decoded = decodeRequest(text);
        if (!decoded.ok || decoded.request.op !== 'pub') throw new Error(`not decoded: ${text}`);
        const { rawData } = decoded.request;
        for (const frame of [encodeMessage('a', 1, 'k', rawData).toString(), encodeFetchAck(1, 'a', 'k', 'e', 2, { seq: 1, rawData })]) {
          expect(frame).not.toContain('\n');
          expect(JSON.parse(frame).data).toEqual(JSON.parse(JSON.stringify(value)));
        }
      }),
    );
  });
});
