/**
 * Re-checks a condition that sends no event (a counter, an HTTP status, a Redis reply) every
 * `everyMs` until it holds. The timeout only guards against a hang; its error names `what`.
 */
export async function until(check: () => boolean | Promise<boolean>, what = 'condition', timeoutMs = 15_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The status of a node's /readyz, or 0 when it does not answer. */
export async function readyStatus(httpUrl: string): Promise<number> {
  try {
    return (await fetch(`${httpUrl}/readyz`)).status;
  } catch {
    return 0;
  }
}
