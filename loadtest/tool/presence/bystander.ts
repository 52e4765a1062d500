import { parentPort, workerData } from 'node:worker_threads';
import { WireClient, type WireHandler } from '../../../devkit/wire-client.js';
import { CONNECT_TIMEOUT_MS, KIND_AT, P, PONG_SECOND } from './frame-kind.js';

/**
 * The bystander of the large-channel phases, in a worker thread of its own so the requests of the
 * main thread never delay its reads: one connection sending `{"op":"ping"}` every `everyMs` and
 * timing each `pong`; its round trip is its view of the gateway's event loop.
 */
export interface BystanderJob {
  readonly url: string;
  readonly everyMs: number;
}

export interface PongFigures {
  readonly pongs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export type BystanderCommand = 'mark' | 'report' | 'stop';
export type BystanderMessage = { type: 'ready' } | { type: 'report'; figures: PongFigures } | { type: 'stopped' };

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

class Pinger implements WireHandler {
  readonly wire = new WireClient(this);
  private readonly sent = new Map<number, number>();
  private nextId = 1;
  rtts: number[] = [];
  opened: (() => void) | undefined;

  onOpen(): void {
    this.opened?.();
  }

  onFrame(buf: Buffer, start: number, end: number): void {
    // `{"ev":"pong","id":N}`
    if (buf[start + KIND_AT] !== P || buf[start + KIND_AT + 1] !== PONG_SECOND) return;
    const id = Number(buf.toString('latin1', start + 18, end - 1));
    const at = this.sent.get(id);
    if (at === undefined) return;
    this.sent.delete(id);
    this.rtts.push(performance.now() - at);
  }

  onClose(): void {}

  ping(): void {
    const id = this.nextId++;
    this.sent.set(id, performance.now());
    this.wire.sendText(`{"op":"ping","id":${id}}`);
  }

  /** The window's round trips; a ping still unanswered counts with its age, so a stalled gateway cannot look fast. */
  figures(): PongFigures {
    const now = performance.now();
    const all = [...this.rtts, ...[...this.sent.values()].map((at) => now - at)].sort((a, b) => a - b);
    return { pongs: this.rtts.length, p50Ms: percentile(all, 50), p99Ms: percentile(all, 99), maxMs: all[all.length - 1] ?? NaN };
  }
}

if (parentPort !== null) {
  const port = parentPort;
  const job = workerData as BystanderJob;
  const pinger = new Pinger();
  await new Promise<void>((resolve) => {
    pinger.opened = resolve;
    pinger.wire.connect(new URL(job.url), '/', CONNECT_TIMEOUT_MS);
  });
  const timer = setInterval(() => pinger.ping(), job.everyMs);
  port.postMessage({ type: 'ready' } satisfies BystanderMessage);
  port.on('message', (command: BystanderCommand) => {
    if (command === 'mark') pinger.rtts = [];
    else if (command === 'report') port.postMessage({ type: 'report', figures: pinger.figures() } satisfies BystanderMessage);
    else {
      clearInterval(timer);
      pinger.wire.destroy();
      port.postMessage({ type: 'stopped' } satisfies BystanderMessage);
      port.close();
    }
  });
}
