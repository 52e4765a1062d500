/**
 * How a high-rate row's run is phased: the warm-up before the measured run, and the window over
 * which its rates are taken.
 */

/**
 * A run's phases: the warm-up before the measured run (`warmupMs`, none when absent), and where the
 * steady rates start in the measured run: after `steadyAfterMs`, and, with `onceShedding` stopped
 * subscribers, once a Sluice server sheds for them (or closed them), at `maxSteadyAfterMs` at the latest.
 */
export interface RunPhases {
  readonly warmupMs?: number;
  readonly steadyAfterMs?: number;
  readonly onceShedding?: number;
  readonly maxSteadyAfterMs?: number;
}

/**
 * A warm gateway: a market-data gateway runs for hours, and no subscriber meets it in its first
 * seconds (its code not yet optimised, its heap not yet grown). So every 1.8M/s row, raw servers
 * too, first runs this long at the row's offered rate with every subscriber reading; only then do the
 * stopped subscribers stop and the measured run begin. Its seconds are printed, marked, with their
 * own p99, and judge nothing.
 */
export const DEFAULT_WARMUP_MS = 3000;
/**
 * The rates' window after a warm-up: the whole measured run. It holds the seconds in which the
 * stopped subscribers' buffers fill and shedding starts: that onset is part of "never slows anyone
 * else", and the p99 already counts it.
 *
 * Without a warm-up (`--warmup-s 0`), the window of before: 2 s in, past the cold start, and with
 * stopped subscribers, once the server sheds for them (its /metrics, polled), 7 s in at the latest.
 * A stopped subscriber holds about 3.7 MB before its queue sheds: ~2.5 MB in the server's send
 * buffer and ~0.13 MB in its own receive buffer (loopback, measured with `ss`), 64 KiB to the
 * high-water mark, 1 MiB of queue: 2.5–5 s at the 0.7–1.5k publications/s a core-bound server
 * takes in. Every row runs 12 s, so that p99s (over the whole measured run) compare.
 */
export const COLD_WINDOW = { steadyAfterMs: 2000, maxSteadyAfterMs: 7000 };

/** The phases of a row with `stopped` stopped subscribers. */
export function phases(warmupMs: number, stopped: number): RunPhases {
  if (warmupMs > 0) return { warmupMs, steadyAfterMs: 0 };
  return stopped === 0 ? { steadyAfterMs: COLD_WINDOW.steadyAfterMs } : { steadyAfterMs: COLD_WINDOW.steadyAfterMs, onceShedding: stopped, maxSteadyAfterMs: COLD_WINDOW.maxSteadyAfterMs };
}
