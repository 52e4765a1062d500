/**
 * The delivery guarantee as a checker. A ledger follows one channel on one connection, frame by
 * frame, the way a careful client would, and records every way the server breaks the guarantee
 * (docs/client.md, "The delivery guarantee"; docs/protocol.md): per subscription, messages arrive
 * in increasing seq; every seq from the subscription's start is delivered, or lies in exactly one
 * announced range (a `gap` frame, a notice, or the unrecovered range of a `recovered:false`
 * resume), announced where its hole is; a `recovered:true` resume neither repeats nor skips.
 */

export interface Position {
  readonly epoch: string;
  readonly seq: number;
}

/** What the ledger counts, for the model's coverage report. */
export interface LedgerCounts {
  messages: number;
  gaps: Record<string, number>;
  resumes: Record<'recovered' | 'partial' | 'unrecoverable', number>;
}

export function emptyCounts(): LedgerCounts {
  return { messages: 0, gaps: {}, resumes: { recovered: 0, partial: 0, unrecoverable: 0 } };
}

type Frame = Record<string, unknown>;

/**
 * One connection's view of one channel. Feed it the connection's frames of that channel in
 * arrival order (`frame`), plus the replies to its own `sub`/`unsub` requests (`subscribed`,
 * `unsubscribed`). `position` is where the subscription stands: everything up to it is accounted for.
 */
export class ChannelLedger {
  readonly violations: string[] = [];
  /** Delivered or announced up to here (undefined while not subscribed). */
  position: Position | undefined;
  /** The last position of a subscription that ended, for a later `since`. */
  lastPosition: Position | undefined;
  /** A `recovered:true` resume must deliver every seq up to here with no gap. */
  private replayTo = 0;

  constructor(
    readonly channel: string,
    readonly label: string,
    private readonly counts: LedgerCounts,
  ) {}

  get subscribed(): boolean {
    return this.position !== undefined;
  }

  /** The `sub` was acknowledged; `since` is what the request asked to resume from. */
  acknowledged(ack: Frame, since: Position | undefined): void {
    const epoch = String(ack.epoch);
    const seq = Number(ack.seq);
    if (this.position !== undefined) this.fail(`sub acknowledged while already subscribed at ${fmt(this.position)}`);
    if (since === undefined) {
      this.position = { epoch, seq };
      return;
    }
    if (ack.recovered === true) {
      if (epoch !== since.epoch && !provisional(since.epoch)) this.fail(`recovered:true in epoch ${epoch} for since ${fmt(since)}`);
      if (seq < since.seq) this.fail(`recovered:true with seq ${seq} behind since ${fmt(since)}`);
      this.counts.resumes.recovered++;
      this.position = { epoch, seq: since.seq };
      this.replayTo = seq;
      return;
    }
    if (epoch === since.epoch && seq === since.seq) this.fail(`recovered:false although nothing was missed (${fmt(since)})`);
    this.counts.resumes[epoch === since.epoch ? 'partial' : 'unrecoverable']++;
    this.position = { epoch, seq };
  }

  /** The `unsub` was acknowledged: nothing of the channel may follow until the next `sub` ack. */
  unsubscribed(): void {
    if (this.position === undefined) this.fail('unsub acknowledged while not subscribed');
    this.end();
  }

  /** The server refused a request that the requests before it made valid. */
  refused(what: string): void {
    this.fail(what);
  }

  /** The connection closed: the subscription ends where it stands. */
  end(): void {
    if (this.position !== undefined) this.lastPosition = this.position;
    this.position = undefined;
    this.replayTo = 0;
  }

  frame(f: Frame): void {
    const at = this.position;
    if (at === undefined) {
      this.fail(`${f.ev} ${describe(f)} arrived while not subscribed`);
      return;
    }
    if (f.ev === 'msg') {
      const seq = Number(f.seq);
      this.counts.messages++;
      if (seq <= at.seq) this.fail(`msg ${seq} repeats or goes back (position ${fmt(at)})`);
      else if (seq > at.seq + 1) this.fail(`msg ${seq} skips ${at.seq + 1}..${seq - 1} without a gap (position ${fmt(at)})`);
      this.position = { epoch: at.epoch, seq: Math.max(seq, at.seq) };
      if (seq >= this.replayTo) this.replayTo = 0;
      return;
    }
    if (f.ev !== 'gap') return;
    const reason = String(f.reason);
    this.counts.gaps[reason] = (this.counts.gaps[reason] ?? 0) + 1;
    const from = Number(f.from);
    if (from !== at.seq + 1) this.fail(`gap ${describe(f)} does not start at its hole (position ${fmt(at)})`);
    if (this.replayTo > at.seq) this.fail(`gap ${describe(f)} inside a recovered replay (up to ${this.replayTo})`);
    // A recovered replay is over once the subscription stands at its end, or has moved to another stream.
    if (this.replayTo <= at.seq) this.replayTo = 0;
    if (reason === 'reset') {
      this.position = { epoch: String(f.epoch), seq: Number(f.seq) };
      this.replayTo = 0;
      return;
    }
    const to = Number(f.to);
    if (to < from) this.fail(`gap ${describe(f)} has an empty range`);
    if (f.n !== undefined && Number(f.n) !== to - from + 1) this.fail(`gap ${describe(f)}: n is not the size of its range`);
    // An unavailable gap stays in the stream: a provisional position continues into the epoch it names.
    if (reason === 'unavailable' && (Number(f.seq) !== to || (String(f.epoch) !== at.epoch && !provisional(at.epoch)))) this.fail(`unavailable gap ${describe(f)} names another position`);
    this.position = { epoch: reason === 'unavailable' ? String(f.epoch) : at.epoch, seq: Math.max(to, at.seq) };
  }

  /** At rest: everything up to the channel's current position must be accounted for. */
  settledAt(current: Position): boolean {
    const at = this.position;
    return at === undefined || ((at.epoch === current.epoch || provisional(at.epoch)) && at.seq === current.seq);
  }

  checkSettled(current: Position): void {
    const at = this.position;
    if (at !== undefined && !this.settledAt(current)) this.fail(`at rest at ${fmt(at)} but the channel is at ${fmt(current)}: a hole was never announced`);
  }

  private fail(what: string): void {
    this.violations.push(`${this.label} ${this.channel}: ${what}`);
  }
}

/**
 * A Redis channel nobody has published to yet answers a provisional epoch (`~…`, docs/protocol.md):
 * its seq 0 continues into the epoch the first publish creates.
 */
export function provisional(epoch: string): boolean {
  return epoch.startsWith('~');
}

function fmt(p: Position): string {
  return `${p.epoch}/${p.seq}`;
}

function describe(f: Frame): string {
  if (f.ev === 'msg') return String(f.seq);
  return `${f.from}..${f.to ?? ''} ${f.reason}`;
}
