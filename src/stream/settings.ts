/**
 * What a broker needs to keep one channel's stream: its history bounds. Handed with every call
 * that may create the stream, so a broker keyed by channel name needs no view of channel rules.
 */
export interface StreamSettings {
  /** Most publications kept for resume; 0 keeps none. */
  readonly historySize: number;
  /** Publications older than this leave history; 0 = never by age. */
  readonly historyTtlMs: number;
  /** Most encoded bytes of publications kept; 0 = no byte bound. */
  readonly historyMaxBytes: number;
  /** Keeps the latest publication per key (docs/keyed.md); absent = false. */
  readonly keyed?: boolean;
  /** Keys held; 0 = no count bound. */
  readonly maxKeys?: number;
  /** Encoded bytes of the latest publications held; 0 = no byte bound. */
  readonly keyedMaxBytes?: number;
  /** A key not published for this long leaves the state; 0 = never. */
  readonly keyTtlMs?: number;
}
