import { z } from 'zod';

/**
 * The `hooks` and `webhooks` config sections: the application's backend in the loop (docs/hooks.md).
 * A hook is off while its `url` is ''. `connect` and `refresh` are gateway-wide; `subscribe` and
 * `publish` apply to the channels `hooks.channels` (first matching pattern) or `hooks.defaults` select.
 */

const Hook = z
  .strictObject({
    /** Where the hook is POSTed (http: or https:); '' = the hook is off. */
    url: z.union([z.literal(''), z.url({ protocol: /^https?$/ })]).default(''),
    /** A call unanswered this long fails (the caller gets `unavailable` with `retryMs`, or fail-open). */
    timeoutMs: z.number().int().min(1).max(60_000).default(1_000),
    /** Calls in flight at once (also the keep-alive pool size); one more is refused at once, never queued. */
    maxConcurrent: z.number().int().min(1).max(10_000).default(64),
    /** When the backend cannot answer (timeout, error, breaker open, at maxConcurrent): false = refuse, true = proceed as if allowed. */
    failOpen: z.boolean().default(false),
    /** Consecutive failures that open the circuit breaker; 0 = never opens. */
    breakerFailures: z.number().int().min(0).default(5),
    /** How long an open breaker refuses calls before one probe call is let through. */
    breakerOpenMs: z.number().int().min(1).default(5_000),
  })
  .prefault({});

const ChannelHooks = {
  /** Call the subscribe hook for these channels. */
  subscribe: z.boolean(),
  /** Call the publish hook for client publications on these channels (the HTTP publish API never calls it). */
  publish: z.boolean(),
};

const ChannelHookRule = z.strictObject({
  /** Channel name pattern; `*` matches any run of characters. First matching rule wins. */
  pattern: z.string().min(1).max(256),
  subscribe: ChannelHooks.subscribe.default(false),
  publish: ChannelHooks.publish.default(false),
});

export const HooksSchema = z
  .strictObject({
    connect: Hook,
    refresh: Hook,
    subscribe: Hook,
    publish: Hook,
    /** Which hooks apply to channels no rule matches. */
    defaults: z.strictObject({ subscribe: ChannelHooks.subscribe.default(true), publish: ChannelHooks.publish.default(true) }).prefault({}),
    /** Per-pattern choice of the channel hooks; first matching pattern wins. */
    channels: z.array(ChannelHookRule).max(1_000).default([]),
    /** Hooked publications of one channel waiting for their verdict, in order; one more gets `unavailable`. */
    maxPendingPerChannel: z.number().int().min(1).max(100_000).default(256),
    /** Largest hook response body read; a larger one counts as a failed call. */
    maxResponseBytes: z.number().int().min(1_024).max(16 * 1024 * 1024).default(64 * 1024),
    /** HMAC-SHA256 key signing every hook call as webhooks are signed, at least 32 bytes; '' = calls are not signed. */
    secret: z.string().default(''),
  })
  .superRefine((h, ctx) => {
    if (h.secret !== '' && Buffer.byteLength(h.secret) < 32) ctx.addIssue({ code: 'custom', path: ['secret'], message: 'must be at least 32 bytes (or empty: hook calls not signed)' });
  })
  .prefault({});

export const WebhooksSchema = z
  .strictObject({
    /** Where event batches are POSTed; '' = webhooks are off. */
    url: z.union([z.literal(''), z.url({ protocol: /^https?$/ })]).default(''),
    /** HMAC-SHA256 key signing every delivery (required when url is set), at least 32 bytes. */
    secret: z.string().default(''),
    /** Events waiting for delivery; beyond it new events are dropped, counted and logged. */
    maxQueued: z.number().int().min(1).max(1_000_000).default(10_000),
    /** Events per POST. */
    maxBatch: z.number().int().min(1).max(10_000).default(100),
    /** A delivery unanswered this long fails and is retried. */
    timeoutMs: z.number().int().min(1).max(60_000).default(5_000),
    /** Retry backoff: doubles from the minimum up to the maximum, with jitter. */
    retryMinMs: z.number().int().min(1).default(500),
    retryMaxMs: z.number().int().min(1).default(30_000),
    /** Publication shed counts per channel are summed over this interval and sent as one event per channel; 0 = not sent. */
    shedIntervalMs: z.number().int().min(0).default(10_000),
    /** Channels counted per shed interval; shedding in more channels is summed under `"*"`. */
    maxShedChannels: z.number().int().min(1).default(1_000),
    /** At shutdown, after the connections are closed: time given to deliver what is queued; the rest is dropped, counted and logged. 0 = no wait. */
    drainTimeoutMs: z.number().int().min(0).max(600_000).default(5_000),
  })
  .superRefine((w, ctx) => {
    if (w.url !== '' && Buffer.byteLength(w.secret) < 32) ctx.addIssue({ code: 'custom', path: ['secret'], message: 'must be at least 32 bytes when webhooks.url is set' });
    if (w.retryMaxMs < w.retryMinMs) ctx.addIssue({ code: 'custom', path: ['retryMaxMs'], message: 'must be at least webhooks.retryMinMs' });
  })
  .prefault({});

export type HooksConfig = z.output<typeof HooksSchema>;
export type HookConfig = HooksConfig['connect'];
export type WebhooksConfig = z.output<typeof WebhooksSchema>;
