/**
 * What the generator counts, per worker thread and summed over them. Cumulative since the worker
 * started; workers post snapshots and the runner diffs them for rates.
 */
export interface Counters {
  connectsOk: number;
  connectsFailed: number;
  /** Connections the server closed (or lost) before the run ended. */
  unexpectedCloses: number;
  reconnects: number;
  /** Publications sent / acknowledged / refused with rate_limited / refused otherwise. */
  pubSent: number;
  pubAccepted: number;
  pubRateLimited: number;
  pubOtherErrors: number;
  /** Sent on a connection that closed before the reply came: their fate is unknown. */
  pubUnanswered: number;
  /** Data messages received by subscribers, except the slow ones (see `deliveriesToSlow`). */
  deliveries: number;
  /** Data messages received by the slow subscribers before they stopped reading (in a run's warm-up). */
  deliveriesToSlow: number;
  /**
   * Data frames received by the clients that only subscribe: deliveries ÷ frames is the events per
   * frame of batch frames (1 without them, a little less when gap frames come too).
   */
  frames: number;
  deliveredBytes: number;
  /** Deliveries that carried a send timestamp and went into the latency histogram. */
  sampled: number;
  gapFrames: number;
  /** Messages reported missing by gap frames, by reason. */
  gapDropped: number;
  gapConflated: number;
  gapExpired: number;
  /** Chat verification: messages seen twice, out of order, or missing (a seq jump with no gap frame). */
  duplicates: number;
  outOfOrder: number;
  missing: number;
  resumes: number;
  resumesUnrecovered: number;
  /** Receive windows (`windowBytes`): the subscribers' connections whose window the server acknowledged, and the `recv` reports they sent. */
  windowAcks: number;
  recvSent: number;
  /** Churn: connect → subscribe-ack → close cycles completed. */
  churnCycles: number;
  closesByCode: Record<string, number>;
  errorsByCode: Record<string, number>;
}

export function newCounters(): Counters {
  return {
    connectsOk: 0,
    connectsFailed: 0,
    unexpectedCloses: 0,
    reconnects: 0,
    pubSent: 0,
    pubAccepted: 0,
    pubRateLimited: 0,
    pubOtherErrors: 0,
    pubUnanswered: 0,
    deliveries: 0,
    deliveriesToSlow: 0,
    frames: 0,
    deliveredBytes: 0,
    sampled: 0,
    gapFrames: 0,
    gapDropped: 0,
    gapConflated: 0,
    gapExpired: 0,
    duplicates: 0,
    outOfOrder: 0,
    missing: 0,
    resumes: 0,
    resumesUnrecovered: 0,
    windowAcks: 0,
    recvSent: 0,
    churnCycles: 0,
    closesByCode: {},
    errorsByCode: {},
  };
}

export function bump(table: Record<string, number>, key: string | number, by = 1): void {
  table[key] = (table[key] ?? 0) + by;
}

/** Adds `b` into `a`. */
export function addCounters(a: Counters, b: Counters): Counters {
  for (const k of Object.keys(b) as Array<keyof Counters>) {
    const v = b[k];
    if (typeof v === 'number') (a[k] as number) += v;
    else for (const [key, n] of Object.entries(v)) bump(a[k] as Record<string, number>, key, n);
  }
  return a;
}
