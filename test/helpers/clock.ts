/** A clock for unit tests of pure logic: it stands still until the test advances it. */
export function manualClock(start = 1000): (() => number) & { advance(ms: number): void } {
  let now = start;
  const clock = () => now;
  return Object.assign(clock, { advance: (ms: number) => void (now += ms) });
}
