/**
 * Encoders of the presence frames (docs/presence.md). An event frame is built once per channel and
 * interval and shared by every watcher; member ids and info are escaped by JSON.stringify, `info`
 * is spliced in as the JSON text kept for the member.
 */

export interface EncodedMember {
  readonly id: string;
  readonly conns: number;
  readonly info: string | undefined;
}

function infoPart(info: string | undefined): string {
  return info === undefined ? '' : `,"info":${info}`;
}

export function encodePresenceEvents(ch: string, joins: readonly EncodedMember[], leaves: readonly string[]): string {
  const joined = joins.map((m) => `{"id":${JSON.stringify(m.id)}${infoPart(m.info)}}`).join(',');
  return `{"ev":"presence","ch":"${ch}","join":[${joined}],"leave":${JSON.stringify(leaves)}}`;
}

export function encodeOccupancy(ch: string, total: number): string {
  return `{"ev":"occupancy","ch":"${ch}","total":${total}}`;
}

/** Presence frames were shed for this watcher: its member list may be stale; fetch it again. */
export function encodePresenceResync(ch: string): string {
  return `{"ev":"presence","ch":"${ch}","resync":true}`;
}

/** The reply to a `presence` request: one page of members, and the cursor of the next. */
export function encodePresencePage(id: unknown, ch: string, total: number, members: readonly EncodedMember[], cursor: string | undefined): string {
  const list = members.map((m) => `{"id":${JSON.stringify(m.id)},"conns":${m.conns}${infoPart(m.info)}}`).join(',');
  const idPart = id === undefined ? '' : `,"id":${JSON.stringify(id)}`;
  const cursorPart = cursor === undefined ? '' : `,"cursor":${JSON.stringify(cursor)}`;
  return `{"ev":"ack"${idPart},"ch":"${ch}","total":${total},"members":[${list}]${cursorPart}}`;
}
