/**
 * Glob matching for channel patterns: `*` matches any run of characters (dots included), every
 * other character matches itself. No regular expression is built, so a pattern taken from a token
 * cannot cause catastrophic backtracking: the match is O(pattern × name) at worst.
 */
export function globMatch(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let starP = -1;
  let starN = 0;
  while (n < name.length) {
    if (p < pattern.length && pattern.charCodeAt(p) === 0x2a /* * */) {
      starP = p++;
      starN = n;
    } else if (p < pattern.length && pattern.charCodeAt(p) === name.charCodeAt(n)) {
      p++;
      n++;
    } else if (starP >= 0) {
      p = starP + 1;
      n = ++starN;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern.charCodeAt(p) === 0x2a) p++;
  return p === pattern.length;
}

/** Grant patterns use the channel alphabet plus `*`; anything else makes the token invalid. */
export const GRANT_PATTERN = /^[A-Za-z0-9_.:@*-]{1,128}$/;
