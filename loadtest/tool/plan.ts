/**
 * What the runner asks the worker threads to do: a list of clients, each subscribing and/or
 * publishing, split across workers. Plain data (it crosses postMessage).
 */

/** How a target speaks: the Sluice protocol, a raw broadcast server (bench baselines), or Socket.IO. */
export type Dialect = 'sluice' | 'raw' | 'socketio';

export interface PublishPlan {
  /** Channels published to, round-robin. */
  readonly channels: string[];
  /** Messages per second from this client (across its channels). */
  readonly rate: number;
  /** Conflation keys cycled through (0 = no key). */
  readonly keys: number;
  /** Bytes of `data` per message. */
  readonly size: number;
  /** Every Nth message carries a send timestamp for the latency histogram. */
  readonly sampleEvery: number;
}

export interface ClientPlan {
  readonly subscribe: string[];
  readonly publish?: PublishPlan;
  /** Stops reading (pauses its TCP socket) when the measured run starts (after the run's warm-up, if any). */
  readonly slow?: boolean;
  /** Parses every message, checks exactly-once in-order delivery, and resumes with `since` after a drop. */
  readonly verify?: boolean;
  /** Offsets (ms into the publishing phase) at which the client drops its connection and resumes. */
  readonly dropAtMs?: number[];
}

export interface ChurnPlan {
  /** Connect → subscribe → close cycles run concurrently per worker. */
  readonly concurrency: number;
  readonly channels: string[];
}

export interface WorkerPlan {
  readonly url: string;
  readonly dialect: Dialect;
  /** Every client offers the `sluice.batch` subprotocol (batch frames, where the server selects it). */
  readonly batch: boolean;
  /** Every subscribing client asks for a receive window of this many bytes before its first `sub` (docs/protocol.md, `window`); 0 or absent: none. Sluice only. */
  readonly windowBytes?: number;
  readonly clients: ClientPlan[];
  readonly churn?: ChurnPlan;
  readonly connectTimeoutMs: number;
  /** Handshakes in flight at once per worker. */
  readonly connectConcurrency: number;
}

/** One scenario run, before it is split across workers. */
export interface Plan {
  readonly scenario: string;
  readonly clients: ClientPlan[];
  readonly churn?: ChurnPlan;
  /** Sluice config flags the scenario needs when the tool spawns the server. */
  readonly serverFlags: string[];
  /** Whether every accepted publication must reach every subscriber of its channel. */
  readonly lossless: boolean;
  /**
   * Publishing clients get a worker thread of their own (one more than asked for). Otherwise a
   * publisher's timer waits while its thread reads the server's deliveries, so how publications
   * bunch up, and how many a server reads at once, depends on the server under test.
   */
  readonly publishersApart?: boolean;
}

/** Messages from the runner to a worker. */
export type ToWorker =
  /**
   * Publishing starts at `startAt` and ends `durationMs` after `measureFrom`, when the measured run
   * starts (the slow clients stop reading then; before it, a warm-up). `steadyFrom`: when the steady
   * part of the measured run starts. All wall-clock ms.
   */
  | { type: 'start'; startAt: number; measureFrom: number; durationMs: number; steadyFrom: number }
  /** The steady part starts now (when the runner decides it as the run goes, `steadyFrom` was Infinity). */
  | { type: 'steady' }
  | { type: 'finish' };

/** Per-subscription outcome of a verifying client, checked against the channel's final seq. */
export interface VerifyRecord {
  readonly ch: string;
  /** The seq in the first subscribe ack: messages after it are expected. */
  readonly startSeq: number;
  readonly lastSeq: number;
  readonly received: number;
}

/** A worker's counts at one moment of the publishing phase (taken on its tick, within a few ms of it). */
export interface CountsAt {
  /** Wall-clock ms. */
  readonly at: number;
  readonly deliveries: number;
  readonly pubSent: number;
}

/** Messages from a worker to the runner. */
export type FromWorker =
  | { type: 'ready'; connected: number; failed: number }
  | {
      type: 'progress';
      counters: import('./counters.js').Counters;
      /** Latency samples since the last report (an encoded histogram), and the longest this thread's tick came late meanwhile (ms): the generator's own stalls. */
      recent: string;
      tickLateMs: number;
    }
  | {
      type: 'final';
      counters: import('./counters.js').Counters;
      /** Encoded histograms: the measured run's samples (by send time), the warm-up's, the connects. */
      latency: string;
      warmLatency: string;
      connect: string;
      acceptedByChannel: Record<string, number>;
      maxSeqByChannel: Record<string, number>;
      verify: VerifyRecord[];
      /** Counts when the steady part of publishing began and when publishing ended (undefined if the run never got there). */
      steady: { from: CountsAt | undefined; to: CountsAt | undefined };
    };
