import { WireClient, type WireHandler } from '../../../devkit/wire-client.js';
import { ACK, CONNECT_TIMEOUT_MS, ERR, KIND_AT } from './frame-kind.js';

/** What the member connections did: joins answered, refusals, and closes the churn did not ask for. */
export interface MemberTally {
  joined: number;
  left: number;
  errors: Record<string, number>;
  /** Connections that never opened: by the refused upgrade's HTTP status, or the socket's error code. */
  connectFailures: Record<string, number>;
  /** Closes by code before the member meant to leave. */
  unexpectedCloses: Record<string, number>;
}

export interface ChurnPlan {
  readonly urls: readonly string[];
  readonly channel: string;
  readonly members: number;
  /** Every member joins and leaves within this many ms. */
  readonly spanMs: number;
  /** A member stays between half and one and a half times this. */
  readonly holdMs: number;
}

const STEP_MS = 10;

/** One member: connects, subscribes (a plain `sub`: it is a member, not a watcher), closes when its time is up. */
class Member implements WireHandler {
  readonly wire = new WireClient(this);
  subscribed = false;
  leaving = false;
  done = false;

  constructor(
    private readonly channel: string,
    private readonly tally: MemberTally,
  ) {}

  onOpen(): void {
    this.wire.sendText(`{"op":"sub","ch":"${this.channel}","id":1}`);
  }

  onFrame(buf: Buffer, start: number, end: number): void {
    const c = buf[start + KIND_AT];
    if (c === ACK && !this.subscribed) {
      this.subscribed = true;
      this.tally.joined++;
      if (this.leaving) this.leave();
    } else if (c === ERR) {
      const code = (JSON.parse(buf.toString('utf8', start, end)) as { code?: string }).code ?? '?';
      this.tally.errors[code] = (this.tally.errors[code] ?? 0) + 1;
      if (this.leaving) this.wire.close();
    }
  }

  onClose(code: number): void {
    this.done = true;
    if (code === 0) {
      const why = this.wire.refusedStatus > 0 ? `HTTP ${this.wire.refusedStatus}` : (this.wire.failure ?? 'closed');
      this.tally.connectFailures[why] = (this.tally.connectFailures[why] ?? 0) + 1;
    }
    else if (!this.leaving) this.tally.unexpectedCloses[String(code)] = (this.tally.unexpectedCloses[String(code)] ?? 0) + 1;
  }

  /** Leaves now, or as soon as its subscription is answered. */
  leave(): void {
    this.leaving = true;
    if (!this.subscribed && !this.done) return;
    if (this.subscribed && !this.done) this.tally.left++;
    this.wire.close();
  }
}

/**
 * The benchmark's churn: `members` connections, member i joining at i × (span − 1.5 hold) /
 * members and leaving after its hold (spread over [0.5, 1.5) × hold by a fixed pattern), so the
 * same schedule runs whatever is measured; every member has joined and left by `spanMs`.
 * Resolves once every connection is closed, or `graceMs` after the span.
 */
export async function churn(plan: ChurnPlan, tally: MemberTally, graceMs: number): Promise<void> {
  const joinSpan = Math.max(0, plan.spanMs - 1.5 * plan.holdMs);
  const joinAt = (i: number): number => (i * joinSpan) / plan.members;
  const holdOf = (i: number): number => plan.holdMs * (0.5 + ((i * 7919) % 1000) / 1000);
  const leaves: Array<{ at: number; member: Member }> = [];
  const all: Member[] = [];
  const start = performance.now();
  let next = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now() - start;
      for (; next < plan.members && joinAt(next) <= now; next++) {
        const member = new Member(plan.channel, tally);
        all.push(member);
        member.wire.connect(new URL(plan.urls[next % plan.urls.length]!), '/', CONNECT_TIMEOUT_MS);
        leaves.push({ at: joinAt(next) + holdOf(next), member });
      }
      for (let i = 0; i < leaves.length; ) {
        if (leaves[i]!.at <= now) {
          leaves[i]!.member.leave();
          leaves[i] = leaves[leaves.length - 1]!;
          leaves.pop();
        } else i++;
      }
      if (next < plan.members || leaves.length > 0) return;
      clearInterval(timer);
      resolve();
    }, STEP_MS);
  });
  const deadline = performance.now() + graceMs;
  while (all.some((m) => !m.done) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const m of all) if (!m.done) m.wire.destroy();
}
