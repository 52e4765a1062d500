/**
 * What the benchmark's clients tell from a server frame without decoding it: every Sluice event
 * frame starts `{"ev":"`, so the byte at KIND_AT names its kind (`presence` and `pong` share `p`:
 * the byte after tells them apart).
 */
export const KIND_AT = 7;
export const ACK = 0x61; // a
export const ERR = 0x65; // e
export const P = 0x70; // presence, pong
export const OCCUPANCY = 0x6f; // o
export const PRESENCE_SECOND = 0x72; // r of "presence"
export const PONG_SECOND = 0x6f; // o of "pong"

/** How long a benchmark connection may take to open (TCP and WebSocket handshake). */
export const CONNECT_TIMEOUT_MS = 30_000;
