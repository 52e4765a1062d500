import type { Hub } from '../hub/hub.js';
import type { Clock } from '../util/clock.js';
import type { MemoryBudget } from '../util/memory-budget.js';
import type { ChannelHookCalls } from './channel-hooks.js';
import type { AuthContext } from './connection-auth.js';
import type { Connection } from './connection.js';
import type { DeliveryContracts } from './key-pacer.js';
import type { SessionPresence } from './presence-requests.js';
import type { ResumeScheduler } from './resume-scheduler.js';
import type { Teardowns } from './teardowns.js';
import type { TurnAllowance } from './turn-allowance.js';
import type { WriteBatcher } from './write-batcher.js';

/** What every connection shares: one instance per gateway. */
export interface ConnectionContext extends AuthContext {
  readonly hub: Hub;
  readonly batcher: WriteBatcher;
  readonly pacer: TurnAllowance;
  /** `limits.subscribesPerTurn`: joins per loop turn, for the whole process. */
  readonly subscribes: TurnAllowance;
  /** The round robin of connections that had their `limits.framesPerTurn` share of a turn. */
  readonly frames: TurnAllowance;
  /** Closed connections released within `limits.teardownMsPerTurn` per turn. */
  readonly teardowns: Teardowns;
  readonly resumer: ResumeScheduler;
  /** True once graceful shutdown has begun. */
  readonly draining: () => boolean;
  /** The transport can stop reading a socket (ws can, uWS cannot). */
  readonly readingPausable: boolean;
  /** Message buffers stay valid after onMessage (ws: each is its own), so held ones need no copy. */
  readonly messagesStable: boolean;
  /** `code`/`reason`: what the server closed with, else what the peer or the transport did. */
  readonly onClosed: (conn: Connection, code: number, reason: string) => void;
  /** The subscribe and publish hooks, when either is configured (docs/hooks.md). */
  readonly channelHooks?: ChannelHookCalls | undefined;
  /** The process's memory budget (each connection's queue and replays charge its pools). */
  readonly budget: MemoryBudget;
  /** Members, counts and their events on presence channels (docs/presence.md). */
  readonly presence: SessionPresence;
  /** Per-subscriber delivery contracts (`maxRate`), on the gateway's one timer wheel. */
  readonly contracts: DeliveryContracts;
  /** `clock`, read once per stretch of synchronous work: for what is done per message queued. */
  readonly turnClock?: Clock | undefined;
}
