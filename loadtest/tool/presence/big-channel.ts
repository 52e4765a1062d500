import { mustReadProc } from '../../../devkit/proc.js';
import { runNode, waitForLog } from '../../../devkit/process.js';
import { WireClient, type WireHandler } from '../../../devkit/wire-client.js';
import { ACK, CONNECT_TIMEOUT_MS, ERR, KIND_AT } from './frame-kind.js';
import type { BystanderCommand, BystanderMessage, PongFigures } from './bystander.js';
import { Thread } from './thread.js';

export interface BigChannelSetup {
  readonly members: number;
  readonly phaseMs: number;
  readonly pagers: number;
  readonly transport: 'ws' | 'uws';
}

interface Phase {
  readonly name: string;
  readonly requests: number;
  readonly requestsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly serverCpuPct: number;
  /** Gateway CPU per request, µs (the bystander's pings included: see the quiet phase). */
  readonly cpuMicrosPerRequest: number;
  readonly bystander: PongFigures;
  readonly listings: number;
}

export interface BigChannelResult {
  readonly figures: { members: number; smallMembers: number; phases: Phase[]; fullListing: { ms: number; pages: number; complete: boolean; p99Ms: number }; listingsChecked: number; listingErrors: string[] };
  readonly report: string;
  readonly checks: Array<{ name: string; ok: boolean; detail: string }>;
}

const SMALL_MEMBERS = 1000;
const PAGE = 100;
const PING_EVERY_MS = 10;
const HOST = 'loadtest/tool/presence/big-host.ts';

type Ask = { ch: 'big' | 'small'; op: 'presence' | 'occupancy' };

/** One requester: one request in flight, the next sent when the answer is in; pages walk the whole list, then start again. */
class Requester implements WireHandler {
  readonly wire = new WireClient(this);
  private id = 0;
  private sentAt = 0;
  private cursor: string | undefined;
  private ask: Ask | undefined;
  latencies: number[] = [];
  listings = 0;
  /** Ids of the listing in progress (only on the checking requester): each member must come exactly once. */
  private seen: Set<string> | undefined;
  opened: (() => void) | undefined;
  private listed: (() => void) | undefined;

  constructor(
    private readonly checking: boolean,
    private readonly expected: Record<Ask['ch'], number>,
    private readonly errors: string[],
    public checked = 0,
  ) {}

  onOpen(): void {
    this.opened?.();
  }

  start(ask: Ask | undefined): void {
    this.ask = ask;
    this.cursor = undefined;
    this.seen = this.checking ? new Set() : undefined;
    this.latencies = [];
    this.listings = 0;
    if (ask !== undefined) this.send();
  }

  /** Lists `ch` once, alone, from the first page to the last; resolves when the last page is in. */
  listOnce(ch: Ask['ch']): Promise<void> {
    return new Promise((resolve) => {
      this.listed = resolve;
      this.start({ ch, op: 'presence' });
    });
  }

  /** No further request; the one in flight is not counted. */
  stop(): void {
    this.ask = undefined;
  }

  onFrame(buf: Buffer, start: number, end: number): void {
    const ask = this.ask;
    if (ask === undefined || (buf[start + KIND_AT] !== ACK && buf[start + KIND_AT] !== ERR)) return;
    const reply = JSON.parse(buf.toString('utf8', start, end)) as { ev: string; id?: number; code?: string; total?: number; members?: Array<{ id: string }>; cursor?: string };
    // A late answer to a request of an earlier phase is not this one's.
    if (reply.id !== this.id) return;
    this.latencies.push(performance.now() - this.sentAt);
    if (reply.ev === 'err') this.errors.push(`${ask.op} ${ask.ch}: ${reply.code}`);
    if (ask.op === 'presence' && reply.members !== undefined) {
      for (const m of reply.members) {
        if (this.seen?.has(m.id)) this.errors.push(`${ask.ch}: ${m.id} listed twice in one listing`);
        this.seen?.add(m.id);
      }
      this.cursor = reply.cursor;
      if (this.cursor === undefined) {
        this.listings++;
        if (this.seen !== undefined) {
          if (this.seen.size !== this.expected[ask.ch]) this.errors.push(`${ask.ch}: a listing returned ${this.seen.size} of ${this.expected[ask.ch]} members`);
          this.checked++;
          this.seen = new Set();
        }
        if (this.listed !== undefined) {
          this.ask = undefined;
          this.listed();
          this.listed = undefined;
          return;
        }
      }
    }
    this.send();
  }

  onClose(): void {}

  private send(): void {
    const ask = this.ask!;
    this.sentAt = performance.now();
    const id = ++this.id;
    this.wire.sendText(ask.op === 'occupancy' ? `{"op":"occupancy","ch":"${ask.ch}","id":${id}}` : `{"op":"presence","ch":"${ask.ch}","id":${id},"limit":${PAGE}${this.cursor === undefined ? '' : `,"cursor":"${this.cursor}"`}}`);
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const f2 = (v: number): string => v.toFixed(2);
const f0 = (v: number): string => Math.round(v).toLocaleString('en-US');

/**
 * A channel of `members` members on one gateway beside one of 1,000: phases of `phaseMs` each —
 * quiet (the bystander alone), then `pagers` connections each keeping one `occupancy` or one
 * paged `presence` request in flight on either channel — with the bystander's pong round trip,
 * request latency and the gateway's CPU per request in each.
 */
export async function bigChannel(s: BigChannelSetup): Promise<BigChannelResult> {
  const host = runNode({ script: HOST, args: [String(s.members), String(SMALL_MEMBERS), s.transport], onStderr: (l) => console.error(`[big] ${l}`) });
  let bystander: Thread<BystanderCommand, BystanderMessage> | undefined;
  const requesters: Requester[] = [];
  try {
    const port = Number((await waitForLog(host, 'listening', 300_000)).port);
    const url = `ws://127.0.0.1:${port}/`;
    bystander = new Thread('./bystander.ts', { url, everyMs: PING_EVERY_MS });
    await bystander.next('ready');
    const errors: string[] = [];
    const expected = { big: s.members, small: SMALL_MEMBERS };
    for (let i = 0; i < s.pagers; i++) {
      const r = new Requester(i === 0, expected, errors);
      requesters.push(r);
      await new Promise<void>((resolve) => {
        r.opened = resolve;
        r.wire.connect(new URL(url), '/', CONNECT_TIMEOUT_MS);
      });
    }
    const asks: Array<[string, Ask | undefined]> = [
      ['quiet (bystander only)', undefined],
      [`occupancy, ${f0(SMALL_MEMBERS)} members`, { ch: 'small', op: 'occupancy' }],
      [`occupancy, ${f0(s.members)} members`, { ch: 'big', op: 'occupancy' }],
      [`pages of ${PAGE}, ${f0(SMALL_MEMBERS)} members`, { ch: 'small', op: 'presence' }],
      [`pages of ${PAGE}, ${f0(s.members)} members`, { ch: 'big', op: 'presence' }],
    ];
    const phases: Phase[] = [];
    for (const [name, ask] of asks) {
      console.error(`presence: large channel, ${name}…`);
      bystander.send('mark');
      const cpu0 = mustReadProc(host.pid).cpuSeconds;
      const t0 = performance.now();
      for (const r of requesters) r.start(ask);
      await sleep(s.phaseMs);
      for (const r of requesters) r.stop();
      const seconds = (performance.now() - t0) / 1000;
      const cpu = mustReadProc(host.pid).cpuSeconds - cpu0;
      bystander.send('report');
      const pongs = (await bystander.next('report')).figures;
      const latencies = ask === undefined ? [] : requesters.flatMap((r) => r.latencies);
      phases.push({
        name,
        requests: latencies.length,
        requestsPerS: latencies.length / seconds,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        serverCpuPct: (cpu * 100) / seconds,
        cpuMicrosPerRequest: latencies.length === 0 ? NaN : (cpu * 1e6) / latencies.length,
        bystander: pongs,
        listings: requesters.reduce((n, r) => n + r.listings, 0),
      });
      // The replies still in flight land before the next phase starts.
      await sleep(200);
    }
    // One connection lists the whole large channel alone, every member checked once.
    console.error('presence: large channel, one full listing…');
    const lister = requesters[0]!;
    const listed = lister.checked;
    const listStart = performance.now();
    await Promise.race([lister.listOnce('big'), sleep(120_000)]);
    lister.stop();
    const fullListing = { ms: performance.now() - listStart, pages: lister.latencies.length, complete: lister.checked > listed, p99Ms: percentile(lister.latencies, 99) };
    const checked = lister.checked;
    const lines = [
      `## 2. A channel of ${f0(s.members)} members on one gateway (${s.transport}; members put in the gateway's table in process, not ${f0(s.members)} sockets), beside one of ${f0(SMALL_MEMBERS)}`,
      '',
      `${s.pagers} connections each keep one request in flight for ${s.phaseMs} ms per phase; a bystander sends a ping every ${PING_EVERY_MS} ms (in its own thread) and times the pong.`,
      '',
      '| phase | requests/s | request p50 ms | request p99 ms | gateway CPU % | gateway CPU µs / request | full listings | bystander pong p50 ms | pong p99 ms | pong max ms |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...phases.map((p) => `| ${p.name} | ${f0(p.requestsPerS)} | ${p.requests ? f2(p.p50Ms) : '–'} | ${p.requests ? f2(p.p99Ms) : '–'} | ${f0(p.serverCpuPct)} | ${p.requests ? f2(p.cpuMicrosPerRequest) : '–'} | ${p.listings || '–'} | ${f2(p.bystander.p50Ms)} | ${f2(p.bystander.p99Ms)} | ${f2(p.bystander.maxMs)} |`),
      '',
      `One connection alone listing all ${f0(s.members)} members: ${fullListing.complete ? `${fullListing.pages} pages in ${f0(fullListing.ms)} ms (page p99 ${f2(fullListing.p99Ms)} ms)` : 'did not finish within 120 s'}.`,
      `Listings checked (the first connection's, every member exactly once): ${checked}; errors: ${errors.length === 0 ? 'none' : errors.slice(0, 5).join('; ')}`,
    ];
    const byName = (ch: 'big' | 'small', op: Ask['op']) => phases[asks.findIndex(([, a]) => a?.ch === ch && a.op === op)]!;
    const checks = [
      { name: 'large channel: every listing returned every member exactly once, no request refused', ok: errors.length === 0 && fullListing.complete, detail: `${checked} listings checked (the large channel's in full: ${fullListing.complete}), ${errors.length} errors` },
      {
        name: 'large channel: occupancy costs the same at 1,000 and at the large size (O(1): within 2x CPU per request)',
        ok: byName('big', 'occupancy').cpuMicrosPerRequest <= 2 * byName('small', 'occupancy').cpuMicrosPerRequest,
        detail: `${f2(byName('big', 'occupancy').cpuMicrosPerRequest)} vs ${f2(byName('small', 'occupancy').cpuMicrosPerRequest)} µs`,
      },
      {
        name: 'large channel: a page costs the same at 1,000 and at the large size (within 2x CPU per request)',
        ok: byName('big', 'presence').cpuMicrosPerRequest <= 2 * byName('small', 'presence').cpuMicrosPerRequest,
        detail: `${f2(byName('big', 'presence').cpuMicrosPerRequest)} vs ${f2(byName('small', 'presence').cpuMicrosPerRequest)} µs`,
      },
    ];
    return { figures: { members: s.members, smallMembers: SMALL_MEMBERS, phases, fullListing, listingsChecked: checked, listingErrors: errors }, report: lines.join('\n'), checks };
  } finally {
    for (const r of requesters) r.wire.destroy();
    bystander?.send('stop');
    await bystander?.next('stopped', 10_000).catch(() => {});
    await bystander?.terminate();
    await host.stop(10_000);
  }
}
