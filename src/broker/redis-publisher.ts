import { ReplyError, type ChainableCommander, type Cluster, type Redis } from 'ioredis';
import type { StreamSettings } from '../stream/settings.js';
import { KEY_LIMIT, UNAVAILABLE, UNCERTAIN, type PublishOutcome } from './broker.js';
import { encodeBody, type KeyNames } from './redis-scripts.js';

/** The publish script (publishScript) as ioredis defines it: the key count first, then keys and arguments. */
type PublishScript = (numKeys: number, ...keysAndArgs: Array<string | number>) => Promise<Array<string | number>>;
export type PublishCommand = { sluicePublish: PublishScript };

export interface PublisherOptions {
  readonly names: KeyNames;
  readonly streamTtlMs: number;
  /** Most publications of one channel per script call; 1: one call per publication, sent at once. */
  readonly maxBatch: number;
  /** How long Redis remembers a publication's pid; 0: pids are not sent. */
  readonly publicationIdTtlMs: number;
  /** The shard serving a key's slot: one pipeline per shard ('' for every key with one server). */
  readonly shardOf: (key: string) => string;
  /** Redis answered a publish. */
  readonly answered: () => void;
  /** A publish was not answered within the command timeout (Redis may hang). */
  readonly timedOut: () => void;
}

/** One publication waiting for its loop turn's pipeline, then for its outcome. */
interface Pending {
  readonly channel: string;
  readonly settings: StreamSettings;
  readonly pid: string | undefined;
  readonly body: string;
  readonly resolve: (outcome: PublishOutcome) => void;
  outcome: PublishOutcome;
}

const TIMED_OUT = 'Command timed out';
const NOT_SENT = "Stream isn't writeable";

/**
 * Sends publications to Redis, those of one loop turn in one pipeline per shard (one round trip
 * each, sent together), as one script call per channel for up to `maxBatch` of its publications
 * (each call atomic in Redis). A turn's outcomes are handed back in the order its publications
 * were made, so one connection's acks keep the order of its `pub`s.
 */
export class RedisPublisher {
  private turn: Pending[] = [];
  private scheduled = false;
  /** Pipelines (or single calls) sent, and script calls in them: round trips and calls per publication. */
  roundTrips = 0;
  calls = 0;

  constructor(
    private readonly redis: (Redis | Cluster) & PublishCommand,
    private readonly options: PublisherOptions,
  ) {}

  publish(channel: string, settings: StreamSettings, key: string | undefined, rawData: string, pid: string | undefined, del = false): Promise<PublishOutcome> {
    return new Promise((resolve) => {
      const pending: Pending = { channel, settings, pid, body: encodeBody(key, rawData, del), resolve, outcome: UNAVAILABLE };
      if (this.options.maxBatch === 1) {
        this.roundTrips++;
        this.calls++;
        const done = (): void => resolve(pending.outcome);
        this.redis.sluicePublish(...this.call([pending])).then(
          (reply) => (this.settle([pending], null, reply), done()),
          (err: Error) => (this.settle([pending], err, undefined), done()),
        );
        return;
      }
      this.turn.push(pending);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const turn = this.turn;
    this.turn = [];
    const byChannel = new Map<string, Pending[]>();
    for (const pending of turn) {
      const group = byChannel.get(pending.channel);
      if (group === undefined) byChannel.set(pending.channel, [pending]);
      else group.push(pending);
    }
    const byShard = new Map<string, Pending[][]>();
    for (const group of byChannel.values()) {
      const shard = this.options.shardOf(this.options.names.meta(group[0]!.channel));
      let calls = byShard.get(shard);
      if (calls === undefined) byShard.set(shard, (calls = []));
      for (let i = 0; i < group.length; i += this.options.maxBatch) calls.push(group.slice(i, i + this.options.maxBatch));
    }
    let open = byShard.size;
    const done = (): void => {
      if (--open > 0) return;
      for (const pending of turn) pending.resolve(pending.outcome);
    };
    for (const calls of byShard.values()) this.send(calls, done);
  };

  /** One pipeline of script calls (to one shard); `done` once every outcome is recorded. */
  private send(calls: readonly Pending[][], done: () => void): void {
    this.roundTrips++;
    this.calls += calls.length;
    const pipeline = this.redis.pipeline() as ChainableCommander & PublishCommand;
    for (const call of calls) void pipeline.sluicePublish(...this.call(call));
    pipeline.exec().then(
      (results) => {
        calls.forEach((call, i) => this.settle(call, results?.[i]?.[0] ?? null, results?.[i]?.[1]));
        done();
      },
      (err: Error) => {
        for (const call of calls) this.settle(call, err, undefined);
        done();
      },
    );
  }

  /** Script arguments for publications of one channel: KEYS meta, history, keyed state, one pid key per remembered pid. */
  private call(call: readonly Pending[]): [number, ...Array<string | number>] {
    const { names, streamTtlMs, publicationIdTtlMs } = this.options;
    const { channel, settings } = call[0]!;
    const keys = [names.meta(channel), names.history(channel), names.keyed(channel)];
    const maxKeys = settings.keyed === true ? (settings.maxKeys ?? 0) : -1;
    const args: Array<string | number> = [names.topic(channel), settings.historySize, settings.historyTtlMs, streamTtlMs, publicationIdTtlMs, maxKeys, settings.keyedMaxBytes ?? 0, settings.keyTtlMs ?? 0, settings.historyMaxBytes];
    for (const pending of call) {
      const remembered = pending.pid !== undefined && publicationIdTtlMs > 0;
      if (remembered) keys.push(names.publicationId(channel, pending.pid!));
      args.push(remembered ? 1 : 0, pending.body);
    }
    return [keys.length, ...keys, ...args];
  }

  /** Records each publication's outcome: its seq, or why it has none. */
  private settle(call: readonly Pending[], err: Error | null, reply: unknown): void {
    if (err === null) {
      this.options.answered();
      // { epoch, seq of each publication }
      const seqs = reply as Array<string | number>;
      call.forEach((pending, i) => (pending.outcome = seqs[i + 1] === -1 ? KEY_LIMIT : { ok: true, seq: seqs[i + 1] as number }));
    } else {
      const outcome = this.failure(err);
      for (const pending of call) pending.outcome = outcome;
    }
  }

  /**
   * Redis refused the call, or it was never sent: nothing was published. It was sent and not
   * answered (timed out, or the link dropped meanwhile): it may have been.
   */
  private failure(err: Error): PublishOutcome {
    if (err instanceof ReplyError || err.message.startsWith(NOT_SENT)) return UNAVAILABLE;
    if (err.message === TIMED_OUT) this.options.timedOut();
    return UNCERTAIN;
  }
}
