/** The hash slot (0…16383) Redis Cluster assigns a key or shard channel, hash tags honoured. */
declare module 'cluster-key-slot' {
  export default function calculateSlot(key: string): number;
}
