import fc from 'fast-check';
import { TestClient } from '../helpers/client.js';
import { fillSocket } from '../helpers/fill.js';
import { ClientSubscriber } from './client-subscriber.js';
import { BALLAST, CHANNELS, PUBLISHERS, RAW_SUBSCRIBERS, SUBSCRIBERS, sequenceArbitrary, type Command } from './commands.js';
import { emptyCounts, type LedgerCounts, type Position } from './ledger.js';
import { RawSubscriber } from './raw-subscriber.js';
import type { World } from './world.js';

/** What a run exercised: every figure the coverage report prints. */
export interface Coverage {
  sequences: number;
  commands: number;
  byCommand: Record<string, number>;
  closes4100: number;
  nodeMoves: number;
  counts: LedgerCounts;
}

export function emptyCoverage(): Coverage {
  return { sequences: 0, commands: 0, byCommand: {}, closes4100: 0, nodeMoves: 0, counts: emptyCounts() };
}

const SMALL = 'x'.repeat(64);
/** The windowed subscriber's receive window: the smallest the model's gateways take (world.ts), a few messages. */
const WINDOW_BYTES = 1024;
/** Ballast: large enough that a few dozen fill a paused reader's socket buffers. */
const BIG = 'y'.repeat(60_000);
/** Most ballast frames one `fill` publishes (a bound: the server normally sheds long before). */
const MAX_FILL = 200;
/** How long a settled sequence may take to account for every message before that counts as a violation. */
const SETTLE_MS = 10_000;

let sequenceNumber = 0;

/**
 * Runs one sequence on fresh channels and fresh clients against the world's gateways, then brings
 * every subscriber back to reading and checks that each stands at its channel's position.
 * Returns the violations (empty when the guarantee held).
 */
export async function runSequence(world: World, commands: readonly Command[], coverage: Coverage): Promise<string[]> {
  const prefix = `q${process.pid}x${++sequenceNumber}`;
  const channel = (i: number) => `${prefix}.${CHANNELS[i]!.suffix}`;
  const ballast = (s: number) => `${prefix}.b${s}.${BALLAST.suffix}`;
  const counts = coverage.counts;
  const raws: RawSubscriber[] = [];
  const publishers: TestClient[] = [];
  let client: ClientSubscriber | undefined;
  const nodeOf = new Array<number>(SUBSCRIBERS).fill(0);
  const violations: string[] = [];
  try {
    client = new ClientSubscriber(world.url(0), 'client', counts);
    const opened = await Promise.all([
      // The last raw subscriber reads through the smallest receive window (docs/protocol.md, `window`).
      Promise.all(Array.from({ length: RAW_SUBSCRIBERS }, (_, s) => RawSubscriber.connect(world.url(0), `raw${s}`, counts, s === RAW_SUBSCRIBERS - 1 ? WINDOW_BYTES : undefined))),
      Promise.all(Array.from({ length: PUBLISHERS }, (_, p) => TestClient.connect(world.url(p)))),
      client.connected(),
    ]);
    raws.push(...opened[0]);
    publishers.push(...opened[1]);
    await Promise.all([...raws.map((raw, s) => raw.sub(ballast(s))), client.subscribe(ballast(RAW_SUBSCRIBERS)).ready]);
    coverage.sequences++;

    for (const cmd of commands) {
      if (!(await step(cmd))) continue;
      coverage.commands++;
      coverage.byCommand[cmd.k] = (coverage.byCommand[cmd.k] ?? 0) + 1;
    }

    // At rest: everyone reads again and is connected, the broker is up.
    if (world.broker === 'redis') await world.ready();
    for (let s = 0; s < RAW_SUBSCRIBERS; s++) await raws[s]!.restore(world.url(nodeOf[s]!));
    await client.restore();
    const positions = new Map<string, Position>();
    const probe = await TestClient.connect(world.url(0));
    try {
      const names = [...CHANNELS.map((_, i) => channel(i)), ...Array.from({ length: SUBSCRIBERS }, (_, s) => ballast(s))];
      const acks = await Promise.all(names.map((ch) => probe.subscribe(ch)));
      acks.forEach((ack, i) => positions.set(names[i]!, { epoch: ack.epoch as string, seq: ack.seq as number }));
    } finally {
      probe.terminate();
    }
    for (const raw of raws) {
      for (const ch of raw.wanted) {
        await raw.settle(ch, positions.get(ch)!, SETTLE_MS).catch((err: Error) => violations.push(err.message));
      }
      violations.push(...raw.violations);
    }
    const c = client;
    for (const ch of c.wanted) {
      const at = positions.get(ch)!;
      await waitFor(() => c.settledAt(ch, at), SETTLE_MS).catch(() => violations.push(`client ${ch}: stands at ${JSON.stringify(c.position(ch))}, expected ${JSON.stringify(at)}`));
    }
    violations.push(...c.violations);
  } finally {
    for (const raw of raws) {
      coverage.closes4100 += raw.closes.filter((code) => code === 4100).length;
      raw.terminate();
    }
    if (client !== undefined) {
      coverage.closes4100 += client.closes.filter((code) => code === 4100).length;
      client.close();
    }
    for (const p of publishers) p.terminate();
  }
  return violations;

  /** Runs one command; false when its precondition did not hold (skipped). */
  async function step(cmd: Command): Promise<boolean> {
    switch (cmd.k) {
      case 'sub':
      case 'unsub':
      case 'resub': {
        const ch = channel(cmd.ch);
        if (cmd.s < RAW_SUBSCRIBERS) {
          const raw = raws[cmd.s]!;
          if (raw.wanted.has(ch) !== (cmd.k !== 'sub')) return false;
          if (cmd.k === 'sub') void raw.sub(ch);
          else if (cmd.k === 'unsub') void raw.unsub(ch);
          else void raw.resub(ch);
          return true;
        }
        if (client!.has(ch) !== (cmd.k !== 'sub')) return false;
        if (cmd.k !== 'sub') client!.unsubscribe(ch);
        if (cmd.k !== 'unsub') client!.subscribe(ch, cmd.recover ?? true);
        return true;
      }
      case 'pub':
        await publish(cmd.p, cmd.ch, cmd.n);
        return true;
      case 'pause':
      case 'resume': {
        const target = cmd.s < RAW_SUBSCRIBERS ? raws[cmd.s]! : client!;
        if (target.paused !== (cmd.k === 'resume')) return false;
        if (cmd.k === 'resume') target.resume();
        else {
          target.pause();
          if (cmd.fill) await fill(cmd.s, target.conn);
        }
        return true;
      }
      case 'move': {
        const node = cmd.node % world.nodes;
        if (node !== nodeOf[cmd.s]) coverage.nodeMoves++;
        nodeOf[cmd.s] = node;
        if (cmd.s < RAW_SUBSCRIBERS) await raws[cmd.s]!.reconnect(world.url(node));
        else await client!.moveTo(world.url(node));
        return true;
      }
      case 'cut':
      case 'restart':
        if (world.redis !== undefined) {
          await Promise.all([cmd.k === 'cut' ? world.cutLinks() : world.restartRedis(), publish(1, cmd.ch, cmd.n)]);
          return true;
        }
        if (cmd.k === 'cut') return false;
        // Memory broker: the gateway restarts; everyone connects again and resumes with `since`
        // (a paused client reads again, or it would not see its connection end).
        if (client!.paused) client!.resume();
        const connects = client!.client.counters.connects;
        await world.restartGateway();
        client!.retarget(world.url(0));
        await Promise.all(publishers.map(async (p, i) => {
          p.terminate();
          publishers[i] = await TestClient.connect(world.url(i));
        }));
        for (const raw of raws) await raw.reconnect(world.url(0));
        await client!.reconnected(connects);
        await publish(1, cmd.ch, cmd.n);
        return true;
    }
  }

  /** Publisher `p` publishes `n` messages to channel `ch` at once and waits for every reply. */
  async function publish(p: number, ch: number, n: number): Promise<void> {
    const keyed = CHANNELS[ch]!.policy === 'conflate';
    const replies = [];
    for (let i = 0; i < n; i++) {
      const key = keyed ? { key: i % 3 === 0 ? 'hot' : `k${i % 7}` } : {};
      replies.push(publishers[p]!.request({ op: 'pub', ch: channel(ch), data: { i, pad: SMALL }, ...key }));
    }
    for (const reply of await Promise.all(replies)) {
      // A broker fault may refuse it (not published) or leave it uncertain: the channel's position at rest decides.
      if (reply.ev !== 'ack' && reply.code !== 'unavailable' && reply.code !== 'publish_uncertain') violations.push(`publish refused: ${JSON.stringify(reply)}`);
    }
  }

  /** Publishes ballast to a paused subscriber until the server sheds some of it: its socket is full. */
  async function fill(s: number, conn: string): Promise<void> {
    await fillSocket(world.gateway(nodeOf[s]!), conn, () => Promise.all(Array.from({ length: 8 }, () => publishers[0]!.request({ op: 'pub', ch: ballast(s), data: BIG }))), MAX_FILL);
  }
}

function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (cond()) resolve();
      else if (Date.now() > deadline) reject(new Error('timed out'));
      else setTimeout(check, 5);
    };
    check();
  });
}

export interface ModelRun {
  readonly coverage: Coverage;
  /** Set when a sequence broke the guarantee: the shrunk sequence, how to replay it, what broke. */
  readonly failure?: { readonly seed: number; readonly path: string | undefined; readonly commands: Command[]; readonly violations: string[]; readonly replay: string };
}

export interface ModelOptions {
  readonly runs: number;
  readonly seed: number;
  readonly maxCommands?: number;
  /** Stop (shrinking included) after this long; the smallest failing sequence found so far is reported. */
  readonly timeLimitMs?: number;
  /** Where to count what the run exercises (a fresh count by default). */
  readonly coverage?: Coverage;
}

/** Runs `runs` random sequences with fast-check; on a violation, shrinks it and reports it replayably. */
export async function checkModel(world: World, options: ModelOptions): Promise<ModelRun> {
  const coverage = options.coverage ?? emptyCoverage();
  let lastViolations: string[] = [];
  const property = fc.asyncProperty(sequenceArbitrary(world.nodes, world.redis !== undefined, options.maxCommands ?? 16), async (commands) => {
    // A sequence that throws (a wait that timed out, a connection refused) fails too, and says why.
    const violations = await runSequence(world, commands, coverage).catch((err: Error) => [`the sequence threw: ${err.message}`]);
    if (violations.length > 0) lastViolations = violations;
    return violations.length === 0;
  });
  const details = await fc.check(property, { numRuns: options.runs, seed: options.seed, interruptAfterTimeLimit: options.timeLimitMs, markInterruptAsFailure: false });
  if (!details.failed || details.counterexample === null) return { coverage };
  const [commands] = details.counterexample;
  const replay = `npm run check:model -- --broker ${world.broker} --replay '${JSON.stringify(commands)}'`;
  return { coverage, failure: { seed: details.seed, path: details.counterexamplePath ?? undefined, commands, violations: lastViolations, replay } };
}

/** The coverage as the counts the issue asks for. */
export function formatCoverage(broker: string, c: Coverage): string {
  const reasons = Object.entries(c.counts.gaps)
    .sort()
    .map(([r, n]) => `${r} ${n}`)
    .join(', ');
  const { recovered, partial, unrecoverable } = c.counts.resumes;
  const commands = Object.entries(c.byCommand)
    .sort()
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  return [
    `[${broker}] sequences ${c.sequences}, commands ${c.commands} (${commands})`,
    `  messages checked ${c.counts.messages}; gaps by reason: ${reasons || 'none'}`,
    `  resumes: recovered ${recovered}, partial ${partial}, unrecoverable ${unrecoverable}; 4100 closes ${c.closes4100}; node moves ${broker === 'memory' ? 'n/a (one node: a move reconnects to it)' : c.nodeMoves}`,
  ].join('\n');
}
