/**
 * Finds the raw text of a top-level member of a JSON object, so a publication's `data` can be
 * forwarded byte for byte instead of being re-serialised. The input must already be known to be
 * valid JSON (JSON.parse succeeded) whose top level is an object. Like JSON.parse, the last
 * occurrence of a duplicated key wins. Returns [start, end) or undefined when the key is absent.
 */
export function findMember(text: string, key: string): [number, number] | undefined {
  let i = skipWs(text, 0);
  if (text.charCodeAt(i) !== 0x7b /* { */) return undefined;
  i++;
  let found: [number, number] | undefined;
  for (;;) {
    i = skipWs(text, i);
    const c = text.charCodeAt(i);
    if (c === 0x7d /* } */) return found;
    if (c === 0x2c /* , */) {
      i++;
      continue;
    }
    const keyStart = i;
    i = skipString(text, i);
    const rawKey = text.slice(keyStart + 1, i - 1);
    const name = rawKey.includes('\\') ? (JSON.parse(text.slice(keyStart, i)) as string) : rawKey;
    i = skipWs(text, i) + 1; // the colon
    const valueStart = skipWs(text, i);
    i = skipValue(text, valueStart);
    if (name === key) found = [valueStart, i];
  }
}

function skipWs(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
    else return i;
  }
}

function skipString(text: string, i: number): number {
  i++; // opening quote
  for (;;) {
    const c = text.charCodeAt(i);
    if (c === 0x5c /* \ */) i += 2;
    else if (c === 0x22 /* " */) return i + 1;
    else i++;
  }
}

function skipValue(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === 0x22) return skipString(text, i);
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    for (;;) {
      const d = text.charCodeAt(i);
      if (d === 0x22) {
        i = skipString(text, i);
        continue;
      }
      if (d === 0x7b || d === 0x5b) depth++;
      else if (d === 0x7d || d === 0x5d) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
  }
  // number, true, false, null: up to the next delimiter
  for (;;) {
    const d = text.charCodeAt(i);
    if (d === 0x2c || d === 0x7d || d === 0x5d || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09 || Number.isNaN(d)) {
      return i;
    }
    i++;
  }
}
