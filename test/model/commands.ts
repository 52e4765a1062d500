import fc from 'fast-check';

/**
 * The model's commands, as plain data: a sequence is a JSON array that can be printed, stored and
 * replayed (`npm run check:model -- --replay '<json>'`). Subscribers 0 and 1 speak raw frames,
 * subscriber 2 is the project's client; channels 0..3 have the four slow-consumer policies.
 * A command whose precondition does not hold when its turn comes (unsubscribing a channel not
 * subscribed, pausing a paused reader) is skipped, so every array is a valid sequence and
 * shrinking may drop any command.
 */
export type Command =
  /** `recover: false`: the project client subscribes without resuming on reconnect (its user is told `skipped`). */
  | { readonly k: 'sub' | 'unsub' | 'resub'; readonly s: number; readonly ch: number; readonly recover?: false }
  | { readonly k: 'pub'; readonly p: number; readonly ch: number; readonly n: number }
  | { readonly k: 'pause'; readonly s: number; readonly fill: boolean }
  | { readonly k: 'resume'; readonly s: number }
  | { readonly k: 'move'; readonly s: number; readonly node: number }
  /**
   * A fault, then publisher 1 publishes `n` messages to channel `ch` (on Redis while the fault
   * lasts). `cut`: Redis cuts every node's pub/sub link. `restart`: Redis loses its data and starts
   * again; with the memory broker the gateway itself restarts (every channel's state lost).
   */
  | { readonly k: 'cut' | 'restart'; readonly ch: number; readonly n: number };

export const SUBSCRIBERS = 3;
export const RAW_SUBSCRIBERS = 2;
export const PUBLISHERS = 2;

/**
 * One channel per policy; the gateway's rules give each its own small history. Each subscriber
 * also holds a ballast channel of its own (BALLAST), on which a `pause` with `fill` publishes
 * large messages until the server has to shed for that subscriber: the loopback socket buffers
 * (megabytes) are filled with a few frames nobody else must read.
 */
export const CHANNELS = [
  { suffix: 'oldest', policy: 'drop-oldest', historySize: 5, maxAgeMs: 20 },
  { suffix: 'newest', policy: 'drop-newest', historySize: 10, maxAgeMs: 0 },
  { suffix: 'conflate', policy: 'conflate', historySize: 15, maxAgeMs: 0 },
  { suffix: 'lossless', policy: 'disconnect', historySize: 20, maxAgeMs: 0 },
] as const;

export const BALLAST = { suffix: 'ballast', policy: 'drop-oldest', historySize: 0, maxAgeMs: 0 } as const;

/** `redis`: the broker has links to cut (Redis); a restart is generated on either broker. */
export function commandArbitrary(nodes: number, redis: boolean): fc.Arbitrary<Command> {
  const s = fc.integer({ min: 0, max: SUBSCRIBERS - 1 });
  const ch = fc.integer({ min: 0, max: CHANNELS.length - 1 });
  const choices: Array<{ weight: number; arbitrary: fc.Arbitrary<Command> }> = [
    { weight: 5, arbitrary: fc.record({ k: fc.constant('sub' as const), s, ch }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('sub' as const), s: fc.constant(SUBSCRIBERS - 1), ch, recover: fc.constant(false as const) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('unsub' as const), s, ch }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('resub' as const), s, ch }) },
    {
      weight: 6,
      arbitrary: fc.record({ k: fc.constant('pub' as const), p: fc.integer({ min: 0, max: PUBLISHERS - 1 }), ch, n: fc.integer({ min: 1, max: 40 }) }),
    },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('pause' as const), s, fill: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('resume' as const), s }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('move' as const), s, node: fc.integer({ min: 0, max: nodes - 1 }) }) },
  ];
  const n = fc.integer({ min: 0, max: 30 });
  if (redis) choices.push({ weight: 1, arbitrary: fc.record({ k: fc.constant('cut' as const), ch, n }) });
  choices.push({ weight: 1, arbitrary: fc.record({ k: fc.constant('restart' as const), ch, n }) });
  return fc.oneof(...choices);
}

export function sequenceArbitrary(nodes: number, redis: boolean, maxLength: number): fc.Arbitrary<Command[]> {
  return fc.array(commandArbitrary(nodes, redis), { minLength: 4, maxLength });
}
