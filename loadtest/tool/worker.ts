import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import * as hdr from 'hdr-histogram-js';
import { newHistogram } from './aggregate.js';
import { ChurnSlot } from './churn.js';
import { newCounters } from './counters.js';
import { Peer, type PeerContext } from './peer.js';
import type { CountsAt, FromWorker, ToWorker, WorkerPlan } from './plan.js';

/** One generator thread: owns a share of the clients, ticks their publishers and reports counts. */

const TICK_MS = 5;
const PROGRESS_MS = 500;

const plan = workerData as WorkerPlan;
const port = parentPort!;
const post = (msg: FromWorker): void => port.postMessage(msg);
const now = (): number => performance.timeOrigin + performance.now();

const ctx: PeerContext = {
  url: new URL(plan.url),
  dialect: plan.dialect,
  batch: plan.batch,
  windowBytes: plan.windowBytes ?? 0,
  connectTimeoutMs: plan.connectTimeoutMs,
  counters: newCounters(),
  latency: newHistogram(),
  warmLatency: newHistogram(),
  recent: newHistogram(),
  acceptedByChannel: {},
  maxSeqByChannel: {},
  now,
  finished: false,
};
const connectHistogram = newHistogram();
const peers = plan.clients.map((c) => new Peer(c, ctx));
const churn = plan.churn === undefined ? [] : Array.from({ length: plan.churn.concurrency }, (_, i) => new ChurnSlot(plan.churn!, { ...ctx, connect: connectHistogram }, i));
let tick: NodeJS.Timeout | undefined;
const steady: { from: CountsAt | undefined; to: CountsAt | undefined } = { from: undefined, to: undefined };
const countsAt = (at: number): CountsAt => ({ at, deliveries: ctx.counters.deliveries, pubSent: ctx.counters.pubSent });
let progress: NodeJS.Timeout | undefined;
/** When the last tick ran, and the longest a tick came late since the last progress report. */
let lastTick = 0;
let tickLateMs = 0;

function report(): void {
  post({ type: 'progress', counters: ctx.counters, recent: hdr.encodeIntoCompressedBase64(ctx.recent), tickLateMs });
  ctx.recent.reset();
  tickLateMs = 0;
}

async function connectAll(): Promise<void> {
  let next = 0;
  let connected = 0;
  let failed = 0;
  const lane = async (): Promise<void> => {
    while (next < peers.length) {
      if (await peers[next++]!.connect()) connected++;
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, plan.connectConcurrency) }, lane));
  post({ type: 'ready', connected, failed });
}

let steadyFrom = Infinity;

function start(startAt: number, measureFrom: number, durationMs: number, from: number): void {
  const until = measureFrom + durationMs;
  steadyFrom = from;
  for (const p of peers) p.start(startAt, measureFrom, until);
  tick = setInterval(() => {
    const t = now();
    if (lastTick > 0) tickLateMs = Math.max(tickLateMs, t - lastTick - TICK_MS);
    lastTick = t;
    // Taken before this tick's sends: the counts of everything up to this moment.
    if (steady.from === undefined && t >= steadyFrom) steady.from = countsAt(t);
    if (steady.to === undefined && t >= until) steady.to = countsAt(t);
    for (const p of peers) p.tick(t);
  }, TICK_MS);
  progress = setInterval(report, PROGRESS_MS);
  if (churn.length > 0) setTimeout(() => churn.forEach((slot) => void slot.run(until)), Math.max(0, startAt - now()));
}

function finish(): void {
  ctx.finished = true;
  clearInterval(tick);
  clearInterval(progress);
  for (const slot of churn) slot.stop();
  for (const p of peers) p.finish();
  post({
    type: 'final',
    counters: ctx.counters,
    latency: hdr.encodeIntoCompressedBase64(ctx.latency),
    warmLatency: hdr.encodeIntoCompressedBase64(ctx.warmLatency),
    connect: hdr.encodeIntoCompressedBase64(connectHistogram),
    acceptedByChannel: ctx.acceptedByChannel,
    maxSeqByChannel: ctx.maxSeqByChannel,
    verify: peers.flatMap((p) => p.verifyRecords()),
    steady,
  });
  // Closing handshakes get a moment; the runner terminates the thread if they take longer.
  setTimeout(() => process.exit(0), 500).unref();
  port.close();
}

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'start') start(msg.startAt, msg.measureFrom, msg.durationMs, msg.steadyFrom);
  else if (msg.type === 'steady') steadyFrom = Math.min(steadyFrom, now());
  else finish();
});
void connectAll();
