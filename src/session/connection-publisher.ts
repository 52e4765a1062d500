import type { PublishResult } from '../hub/hub.js';
import type { ErrorCode } from '../protocol/errors.js';
import { encodeAck } from '../protocol/frames.js';
import type { PubRequest, RequestId } from '../protocol/requests.js';
import type { HookedConnection } from './channel-hooks.js';
import type { ConnectionContext } from './connection-context.js';

/** What a connection's publisher needs of it. */
export interface PublisherOwner extends HookedConnection {
  readonly auth: HookedConnection['auth'] & { mayPublish(ch: string, id: RequestId | undefined): boolean };
  sendError(code: ErrorCode, id?: RequestId): void;
  sendControl(text: string): void;
  /** `limits.maxPendingPublishes` publications await an answer: stop taking requests (false: take them again). */
  windowFull(full: boolean): void;
}

/**
 * One connection's publications: the publish hook, the hub, and the window of those not answered
 * yet. Replies come back in request order (the hook and the broker answer one connection's
 * publishes in order).
 */
export class ConnectionPublisher {
  /** Publishes waiting for the publish hook or handed to an asynchronous broker, not yet answered. */
  private pending = 0;

  constructor(
    private readonly ctx: ConnectionContext,
    private readonly owner: PublisherOwner,
  ) {}

  publish(request: PubRequest): void {
    if (this.ctx.draining()) {
      this.owner.sendError('shutting_down', request.id);
      return;
    }
    if (!this.owner.auth.mayPublish(request.ch, request.id)) return;
    const hooks = this.ctx.channelHooks;
    if (hooks?.publishHooked(request.ch)) {
      // The publication holds a place in the publish window from now until it is answered.
      if (hooks.publish(this.owner, request)) this.windowTaken();
      return;
    }
    this.forward(request, request.rawData, false);
  }

  vetted(request: PubRequest, rawData: string): void {
    this.forward(request, rawData, true);
  }

  refused(): void {
    this.windowFreed();
  }

  /** Hands a publication to the hub; `inWindow`: it already holds a place in the publish window. */
  private forward(request: PubRequest, rawData: string, inWindow: boolean): void {
    const result = this.ctx.hub.publish(request.ch, request.key, rawData, request.pid, request.del);
    if (result instanceof Promise) {
      if (!inWindow) this.windowTaken();
      const { id, ch } = request;
      void result.then((r) => this.published(r, id, ch, true));
      return;
    }
    this.published(result, request.id, request.ch, inWindow);
  }

  private published(result: PublishResult, id: RequestId | undefined, ch: string, inWindow: boolean): void {
    if (!result.ok) this.owner.sendError(result.code, id);
    else if (id !== undefined) this.owner.sendControl(encodeAck(id, { ch, seq: result.seq }));
    if (inWindow) this.windowFreed();
  }

  private windowTaken(): void {
    if (++this.pending >= this.ctx.settings.maxPendingPublishes) this.owner.windowFull(true);
  }

  private windowFreed(): void {
    if (--this.pending < this.ctx.settings.maxPendingPublishes) this.owner.windowFull(false);
  }
}
