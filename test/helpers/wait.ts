/**
 * Re-checks an outside condition (an HTTP status, a Redis reply) that sends no event, every
 * `everyMs`, until it holds; the timeout only guards against a hang.
 */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function readyStatus(httpUrl: string): Promise<number> {
  try {
    return (await fetch(`${httpUrl}/readyz`)).status;
  } catch {
    return 0;
  }
}
