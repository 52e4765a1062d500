/** Milliseconds, monotonic within a process. Injected everywhere time matters so tests can drive it. */
export type Clock = () => number;

const origin = Date.now() - performance.now();

/** Wall-clock-aligned monotonic milliseconds (performance.now() shifted to the epoch). */
export const systemClock: Clock = () => origin + performance.now();
