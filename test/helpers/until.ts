/** Resolves once `condition` holds, checking every 10 ms (the test's own timeout guards against a hang). */
export function until(condition: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (condition() ? resolve() : setTimeout(check, 10));
    check();
  });
}
