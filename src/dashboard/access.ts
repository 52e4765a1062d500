import { createHash, timingSafeEqual } from 'node:crypto';
import type { HttpRequest } from '../transport/transport.js';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * Checks the admin key of a dashboard request: `Authorization: Bearer <key>`, or `?key=<key>` for
 * the browser (EventSource cannot set headers). Compared in constant time over fixed-length
 * digests, so neither the key's content nor its length leaks through timing.
 */
export class AdminKey {
  private readonly expected: Buffer;

  constructor(key: string) {
    if (key.length === 0) throw new Error('dashboard admin key must not be empty');
    this.expected = digest(key);
  }

  allows(request: HttpRequest): boolean {
    const given = presentedKey(request);
    return given !== undefined && timingSafeEqual(digest(given), this.expected);
  }
}

function presentedKey(request: HttpRequest): string | undefined {
  const auth = request.headers.authorization;
  if (auth !== undefined) {
    const match = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (match) return match[1];
  }
  const q = request.url.indexOf('?');
  if (q < 0) return undefined;
  return new URLSearchParams(request.url.slice(q + 1)).get('key') ?? undefined;
}
