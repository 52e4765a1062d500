import { applyDelta } from 'fossil-delta';
import { findMember } from '../protocol/raw-json.js';

/** A `msg` frame of a delta subscription: a full value (`data`), or a delta (`base` + `delta`). */
export interface DeltaMessageFrame {
  readonly seq: number;
  readonly key?: string;
  readonly data?: unknown;
  readonly del?: boolean;
  readonly base?: number;
  readonly delta?: string;
}

const encoder = new TextEncoder();
/** A delta whose result is not UTF-8 did not apply (`fatal`). */
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The values a delta subscription holds as delta bases (docs/keyed.md, "Deltas"): per key, the
 * seq and the exact bytes of the value last received in a `msg` frame (the `data` text as sent:
 * never a re-serialisation). A delta applies only to the value of the seq it names, and its result
 * must match the length and checksum the delta carries; anything else is a mismatch, and the key
 * is fetched again (`fetch`), never shown with a wrong value.
 */
export class DeltaDecoder {
  /** `bytes` undefined: the key's value is not known exactly (a delta did not apply); it waits for a full one. */
  private readonly held = new Map<string, { seq: number; bytes: Uint8Array | undefined }>();

  /**
   * The value of a keyed `msg` frame (`raw`: the frame's text), decoding a delta; undefined when a
   * delta cannot be applied (the caller fetches the key).
   */
  value(frame: DeltaMessageFrame & { readonly key: string }, raw: unknown): { readonly data: unknown } | undefined {
    const { key, seq } = frame;
    if (frame.del === true) {
      this.held.delete(key);
      return { data: frame.data };
    }
    if (frame.delta === undefined) {
      const text = String(raw);
      const at = findMember(text, 'data');
      this.held.set(key, { seq, bytes: at === undefined ? undefined : encoder.encode(text.slice(at[0], at[1])) });
      return { data: frame.data };
    }
    const held = this.held.get(key);
    let bytes: Uint8Array | undefined;
    let data: unknown;
    if (held?.bytes !== undefined && held.seq === frame.base) {
      try {
        bytes = applyDelta(held.bytes, Uint8Array.from(atob(frame.delta), (c) => c.charCodeAt(0)));
        data = JSON.parse(decoder.decode(bytes));
      } catch {
        // A corrupt delta, a checksum or length mismatch, a result that is not UTF-8 JSON: not applied.
        bytes = undefined;
      }
    }
    this.held.set(key, { seq, bytes });
    return bytes === undefined ? undefined : { data };
  }

  /** A new (re)subscription: nothing received before it is a base. */
  reset(): void {
    this.held.clear();
  }
}
