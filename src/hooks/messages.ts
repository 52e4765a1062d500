import { z } from 'zod';

/**
 * What each hook sends and what it must answer (docs/hooks.md shows both). Requests are JSON
 * objects built by the caller; answers are validated here, and anything else (not JSON, another
 * shape, a status other than 200) counts as a failed call.
 */

export type HookName = 'connect' | 'refresh' | 'subscribe' | 'publish';

export const HOOK_NAMES: readonly HookName[] = ['connect', 'refresh', 'subscribe', 'publish'];

const Reason = z.string().max(256);
const Pattern = z.string().min(1).max(256);
/** Whatever JSON the application attaches to a connection or a subscription. */
const Info = z.json();
const Deny = z.object({ allow: z.literal(false), reason: Reason.optional() });

export const ConnectAnswer = z.discriminatedUnion('allow', [
  z.object({
    allow: z.literal(true),
    /** The user; replaces the token's subject, if any. */
    sub: z.string().min(1).max(256).optional(),
    /** Channel patterns the user may subscribe to / publish to in `granted` namespaces. */
    grants: z.object({ sub: z.array(Pattern).max(1_000).default([]), pub: z.array(Pattern).max(1_000).default([]) }).optional(),
    /** The connection expires this long from now unless the refresh hook extends it. */
    expireInSec: z.number().positive().max(10 * 365 * 86_400).optional(),
    /** Attached to the connection: sent in `hello` and with its later hook calls. */
    info: Info.optional(),
  }),
  Deny.extend({ status: z.number().int().min(400).max(499).optional() }),
]);

export const RefreshAnswer = z.discriminatedUnion('allow', [
  z.object({ allow: z.literal(true), expireInSec: z.number().positive().max(10 * 365 * 86_400).optional(), info: Info.optional() }),
  Deny,
]);

export const SubscribeAnswer = z.discriminatedUnion('allow', [z.object({ allow: z.literal(true), info: Info.optional() }), Deny]);

/** A `data` member replaces the publication's data (moderation, enrichment); absent = published as sent. */
export const PublishAnswer = z.discriminatedUnion('allow', [z.object({ allow: z.literal(true), data: z.json().optional() }), Deny]);

export type ConnectAnswer = z.output<typeof ConnectAnswer>;
export type RefreshAnswer = z.output<typeof RefreshAnswer>;
export type SubscribeAnswer = z.output<typeof SubscribeAnswer>;
export type PublishAnswer = z.output<typeof PublishAnswer>;

/** Who is asking: the fields every hook after `connect` receives. */
export interface CallerFields {
  readonly conn: string;
  readonly ip: string;
  readonly sub: string | undefined;
  readonly info: unknown;
}

/** The body of a publish call, with the client's `data` spliced in as it was sent (never re-encoded). */
export function publishBody(caller: CallerFields, ch: string, key: string | undefined, rawData: string): string {
  const head = JSON.stringify({ ...caller, ch, key });
  return `${head.slice(0, -1)},"data":${rawData}}`;
}
