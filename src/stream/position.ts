/** A place in a channel's stream: `seq` counts publications within the stream's lifetime `epoch`. */
export interface StreamPosition {
  readonly epoch: string;
  readonly seq: number;
}
