/** Something the turn's flush writes: a uws socket with frames held. */
export interface Flushable {
  flush(): void;
}

/**
 * The uws transport's one flush per loop turn, from setImmediate: first the topic publications the
 * turn made (`onTurnStart`), then every socket with frames held. uWS corks only one socket at a
 * time, and inside any uWS callback (including the process.nextTick that follows it) the socket
 * being read holds the cork, so ws.cork() on another socket would write each frame with its own
 * syscall, and a publication would be written by the 33rd of the turn on the spot, uncorked. From
 * setImmediate no socket is corked, so each socket gets one write.
 * The list keeps its length from turn to turn (truncating it would make every turn grow it again);
 * a socket scheduled while the flush runs (a drain the core answers with writes) is flushed in it.
 */
const flushList: Array<Flushable | undefined> = [];
let flushCount = 0;
let flushScheduled = false;
let flushing = false;
const turnStarts = new Set<() => void>();

function flushAll(): void {
  flushScheduled = false;
  flushing = true;
  let i = 0;
  try {
    for (const start of turnStarts) start();
    while (i < flushCount) {
      const socket = flushList[i]!;
      flushList[i++] = undefined;
      socket.flush();
    }
  } finally {
    flushing = false;
    // A flush that threw (in the core's drain handler) must not strand the sockets after it: they go to the next turn.
    const rest = flushCount - i;
    if (rest > 0) {
      flushList.copyWithin(0, i, flushCount);
      flushList.fill(undefined, rest, flushCount);
      scheduleTurn();
    }
    flushCount = rest;
  }
}

/** The turn's flush is to run (at most once per turn). */
export function scheduleTurn(): void {
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushAll);
  }
}

export function scheduleFlush(socket: Flushable): void {
  flushList[flushCount++] = socket;
  scheduleTurn();
}

/** The turn's flush is running (from setImmediate: nothing holds uWS's cork). */
export function inFlush(): boolean {
  return flushing;
}

/** Runs `start` at the beginning of every turn's flush, before any socket's (each transport's topic publications). */
export function onTurnStart(start: () => void): void {
  turnStarts.add(start);
}

export function offTurnStart(start: () => void): void {
  turnStarts.delete(start);
}
