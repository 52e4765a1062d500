import { parentPort, workerData } from 'node:worker_threads';
import { WireClient, type WireHandler } from '../../../devkit/wire-client.js';
import { ACK, CONNECT_TIMEOUT_MS, ERR, KIND_AT, OCCUPANCY, P, PRESENCE_SECOND } from './frame-kind.js';

/**
 * The watchers of the presence benchmark, in a worker thread so that counting their frames never
 * delays the member churn of the main thread. Each watcher subscribes to the channel (with
 * `presence: true` when presence is on) and counts, by header only, the presence event frames,
 * occupancy frames and resync notices it receives, and their bytes on the wire. The first watcher
 * of the thread also parses its event frames and counts the joins and leaves they carry.
 */
export interface WatcherJob {
  /** Gateway URLs; watcher i connects to urls[i % urls.length]. */
  readonly urls: readonly string[];
  readonly count: number;
  readonly channel: string;
  readonly presence: boolean;
}

/** What the watchers of one thread received since the last mark. */
export interface WatcherTally {
  eventFrames: number;
  occupancyFrames: number;
  resyncs: number;
  /** Bytes of presence frames on the wire (header and payload). */
  bytes: number;
  /** Event and occupancy frames of the watcher that received the most. */
  maxEventFramesOneWatcher: number;
  maxOccupancyFramesOneWatcher: number;
  /** Joins and leaves in the event frames of the thread's first watcher (parsed). */
  sampledJoins: number;
  sampledLeaves: number;
  /** Watchers whose connection closed during the run, by close code. */
  closes: Record<string, number>;
}

export type WatcherCommand = 'mark' | 'report' | 'stop';
export type WatcherMessage = { type: 'ready'; failed: number } | { type: 'report'; tally: WatcherTally } | { type: 'stopped' };

/** Connections opening at once: a loaded machine must not see 1,000 handshakes in one burst. */
const OPENING_AT_ONCE = 64;

class Watcher implements WireHandler {
  readonly wire = new WireClient(this);
  eventFrames = 0;
  occupancyFrames = 0;
  acked = false;
  closed = 0;
  onAck: (() => void) | undefined;

  constructor(
    private readonly job: WatcherJob,
    private readonly tally: WatcherTally,
    private readonly parse: boolean,
  ) {}

  onOpen(): void {
    this.wire.sendText(JSON.stringify({ op: 'sub', ch: this.job.channel, id: 1, ...(this.job.presence ? { presence: true } : {}) }));
  }

  onFrame(buf: Buffer, start: number, end: number): void {
    const c = buf[start + KIND_AT];
    const wireBytes = end - start + (end - start < 126 ? 2 : 4);
    if (c === P && buf[start + KIND_AT + 1] === PRESENCE_SECOND) {
      this.tally.bytes += wireBytes;
      // An event frame ends `]}` (its leave list), a resync notice `"resync":true}`.
      if (buf[end - 2] === 0x65 /* e of true */) {
        this.tally.resyncs++;
        return;
      }
      this.tally.eventFrames++;
      this.eventFrames++;
      if (this.parse) {
        const frame = JSON.parse(buf.toString('utf8', start, end)) as { join?: unknown[]; leave?: unknown[] };
        this.tally.sampledJoins += frame.join?.length ?? 0;
        this.tally.sampledLeaves += frame.leave?.length ?? 0;
      }
    } else if (c === OCCUPANCY) {
      this.tally.bytes += wireBytes;
      this.tally.occupancyFrames++;
      this.occupancyFrames++;
    } else if ((c === ACK || c === ERR) && !this.acked) {
      this.acked = c === ACK;
      this.onAck?.();
    }
  }

  onClose(code: number): void {
    this.closed = code === 0 ? -1 : code;
    if (!this.acked) this.onAck?.();
    else this.tally.closes[String(code)] = (this.tally.closes[String(code)] ?? 0) + 1;
  }
}

function freshTally(): WatcherTally {
  return { eventFrames: 0, occupancyFrames: 0, resyncs: 0, bytes: 0, maxEventFramesOneWatcher: 0, maxOccupancyFramesOneWatcher: 0, sampledJoins: 0, sampledLeaves: 0, closes: {} };
}

async function open(job: WatcherJob, tally: WatcherTally): Promise<Watcher[]> {
  const watchers: Watcher[] = [];
  let next = 0;
  const slot = async (): Promise<void> => {
    while (next < job.count) {
      const i = next++;
      const w = new Watcher(job, tally, i === 0);
      watchers.push(w);
      await new Promise<void>((resolve) => {
        w.onAck = resolve;
        w.wire.connect(new URL(job.urls[i % job.urls.length]!), '/', CONNECT_TIMEOUT_MS);
      });
      w.onAck = undefined;
    }
  };
  await Promise.all(Array.from({ length: OPENING_AT_ONCE }, slot));
  return watchers;
}

if (parentPort !== null) {
  const port = parentPort;
  const job = workerData as WatcherJob;
  const tally = freshTally();
  const watchers = await open(job, tally);
  port.postMessage({ type: 'ready', failed: watchers.filter((w) => !w.acked).length } satisfies WatcherMessage);
  port.on('message', (command: WatcherCommand) => {
    if (command === 'mark') {
      Object.assign(tally, freshTally());
      for (const w of watchers) w.eventFrames = w.occupancyFrames = 0;
    } else if (command === 'report') {
      for (const w of watchers) {
        tally.maxEventFramesOneWatcher = Math.max(tally.maxEventFramesOneWatcher, w.eventFrames);
        tally.maxOccupancyFramesOneWatcher = Math.max(tally.maxOccupancyFramesOneWatcher, w.occupancyFrames);
      }
      port.postMessage({ type: 'report', tally } satisfies WatcherMessage);
    } else {
      for (const w of watchers) w.wire.destroy();
      port.postMessage({ type: 'stopped' } satisfies WatcherMessage);
      port.close();
    }
  });
}
