/**
 * Batch frames (docs/protocol.md, "Batch frames"): a client that offers the `sluice.batch`
 * subprotocol, and sees it selected in the 101, may get several events in one text frame, each a
 * complete JSON object, joined by a single `\n`.
 */

/** The subprotocol a client offers to receive batch frames; the server selects it when it batches. */
export const BATCH_SUBPROTOCOL = 'sluice.batch';

/** What separates the events of a batch frame. */
export const EVENT_SEPARATOR = '\n';
export const EVENT_SEPARATOR_BYTE = 0x0a;

/**
 * A JSON text already parsed as valid, on one line: a raw newline can only be whitespace there (a
 * JSON string cannot hold one), so a space replaces it and the value is unchanged. Every event the
 * server encodes must be one line, or a batch frame could not be split on `\n`.
 */
export function oneLine(json: string): string {
  return json.includes(EVENT_SEPARATOR) ? json.replaceAll(EVENT_SEPARATOR, ' ') : json;
}
