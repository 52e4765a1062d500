import type { Identity } from '../auth/identity.js';
import type { HookClient, HookVerdict } from '../hooks/hook-client.js';
import type { Hooks } from '../hooks/hooks.js';
import { publishBody, type CallerFields, type PublishAnswer } from '../hooks/messages.js';
import type { ErrorCode } from '../protocol/errors.js';
import type { PubRequest, RequestId, SubRequest } from '../protocol/requests.js';

/** What a connection offers the subscribe and publish hooks: who asks, and where verdicts go. */
export interface HookedConnection {
  readonly id: string;
  readonly ip: string;
  readonly auth: { readonly identity: Identity };
  readonly isClosing: boolean;
  sendError(code: ErrorCode, id?: RequestId, message?: string, retryMs?: number): void;
  /** The subscribe hook let this `sub` through (with the info to put in the ack). */
  subscribeVetted(request: SubRequest, info: unknown): void;
  /** The `sub` has been answered with an error: the connection forgets it. */
  subscribeRefused(request: SubRequest): void;
  /** The publish hook let this `pub` through, with the data to publish. */
  publishVetted(request: PubRequest, rawData: string): void;
  /** The `pub` has been answered with an error. */
  publishRefused(): void;
}

interface PendingPublish {
  readonly conn: HookedConnection;
  readonly request: PubRequest;
  verdict: HookVerdict<PublishAnswer> | undefined;
}

const UNAVAILABLE_SUBSCRIBE = 'the application backend did not answer the subscribe hook; retry later';
const UNAVAILABLE_PUBLISH = 'the application backend did not answer the publish hook; retry later';
const PUBLISH_QUEUE_FULL = 'too many publications on this channel are waiting for the publish hook; retry later';
const REFUSED = 'refused by the application';

/**
 * The subscribe and publish hooks as a connection meets them (one instance per gateway). A
 * refusal by the backend is answered `forbidden` with its reason (no strike: it is the
 * application's decision, not a probe); no answer is `unavailable` with `retryMs`, unless the
 * hook fails open. Publications of a channel reach the hub in the order they arrived, whatever
 * order their verdicts come back in: each channel keeps a FIFO of pending verdicts, bounded by
 * `hooks.maxPendingPerChannel`, and only its head may leave.
 */
export class ChannelHookCalls {
  private readonly pending = new Map<string, PendingPublish[]>();

  constructor(
    private readonly hooks: Hooks,
    private readonly maxPendingPerChannel: number,
  ) {}

  subscribeHooked(ch: string): boolean {
    return this.hooks.forChannel(ch).subscribe;
  }

  publishHooked(ch: string): boolean {
    return this.hooks.forChannel(ch).publish;
  }

  /** Publications waiting for the publish hook on every channel (health, tests). */
  get pendingPublishes(): number {
    let n = 0;
    for (const queue of this.pending.values()) n += queue.length;
    return n;
  }

  subscribe(conn: HookedConnection, request: SubRequest): void {
    const hook = this.hooks.subscribe!;
    void hook.call(JSON.stringify({ ...caller(conn), ch: request.ch })).then((verdict) => {
      if (conn.isClosing) return;
      const answer = this.answer(hook, verdict, conn, request.id, UNAVAILABLE_SUBSCRIBE);
      if (answer === undefined) conn.subscribeRefused(request);
      else conn.subscribeVetted(request, 'info' in answer ? answer.info : undefined);
    });
  }

  /** Queues a publication behind its channel's earlier ones; answers it and returns false when that queue is full. */
  publish(conn: HookedConnection, request: PubRequest): boolean {
    const hook = this.hooks.publish!;
    let queue = this.pending.get(request.ch);
    if (queue === undefined) this.pending.set(request.ch, (queue = []));
    else if (queue.length >= this.maxPendingPerChannel) {
      conn.sendError('unavailable', request.id, PUBLISH_QUEUE_FULL, hook.config.timeoutMs);
      return false;
    }
    const entry: PendingPublish = { conn, request, verdict: undefined };
    queue.push(entry);
    void hook.call(publishBody(caller(conn), request.ch, request.key, request.rawData)).then((verdict) => {
      entry.verdict = verdict;
      this.release(request.ch, queue);
    });
    return true;
  }

  /** Hands on, in arrival order, every publication at the head of the queue whose verdict is in. */
  private release(ch: string, queue: PendingPublish[]): void {
    const hook = this.hooks.publish!;
    let n = 0;
    while (n < queue.length && queue[n]!.verdict !== undefined) {
      const { conn, request, verdict } = queue[n++]!;
      if (conn.isClosing) continue;
      const answer = this.answer(hook, verdict!, conn, request.id, UNAVAILABLE_PUBLISH);
      if (answer === undefined) conn.publishRefused();
      else conn.publishVetted(request, answer.allow && 'data' in answer ? JSON.stringify(answer.data) : request.rawData);
    }
    queue.splice(0, n);
    if (queue.length === 0 && this.pending.get(ch) === queue) this.pending.delete(ch);
  }

  /**
   * The backend's allowing answer, `{allow: true}` when it could not answer and the hook fails
   * open; otherwise the request has been refused (`forbidden` or `unavailable`) and undefined returned.
   */
  private answer<A extends { allow: boolean; reason?: string }>(hook: HookClient<A>, verdict: HookVerdict<A>, conn: HookedConnection, id: RequestId | undefined, unavailable: string): A | { allow: true } | undefined {
    if (!verdict.ok) {
      if (hook.failOpen) return { allow: true };
      conn.sendError('unavailable', id, unavailable, verdict.retryMs);
      return undefined;
    }
    if (verdict.answer.allow) return verdict.answer;
    conn.sendError('forbidden', id, verdict.answer.reason ?? REFUSED);
    return undefined;
  }
}

function caller(conn: HookedConnection): CallerFields {
  const { sub, info } = conn.auth.identity;
  return { conn: conn.id, ip: conn.ip, sub, info };
}
