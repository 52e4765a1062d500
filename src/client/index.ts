/** `sluice/client`: the TypeScript client of the Sluice protocol (docs/client.md). */
export { createClient, SluiceClient, type ClientOptions } from './client.js';
export type { ClientEvents, ClientState, ServerLimits } from './events.js';
export {
  SluiceError,
  ServerError,
  ClientClosedError,
  ConnectionClosedError,
  ConnectionLostError,
  BufferFullError,
  OfflineError,
  PayloadTooLargeError,
  type LocalErrorCode,
} from './errors.js';
export type { PublishAck, PublishLimits } from './publish-queue.js';
export { Backoff, reconnectAction, type BackoffOptions, type ReconnectAction } from './reconnect.js';
export type { Subscription, SubscribeOptions, SnapshotInfo, Message, Gap, GapReason, StreamNoticeReason, SubscriptionEvent, SubscriptionState } from './subscription.js';
export type { PresenceMember, PresenceOptions } from './presence.js';
export type { WebSocketConstructor, WebSocketLike } from './transport.js';
export type { TokenTransport } from './token.js';
export type { ErrorCode } from '../protocol/errors.js';
