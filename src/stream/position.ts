/** A place in a channel's stream: `seq` counts publications within the stream's lifetime `epoch`. */
export interface StreamPosition {
  readonly epoch: string;
  readonly seq: number;
}

/**
 * A broker's position in a stream nobody has published to yet (Redis: `~` + run id + read time):
 * it holds nothing, and continues into the epoch the first publish creates.
 */
export function provisional(epoch: string): boolean {
  return epoch.startsWith('~');
}
