import { expect } from 'vitest';
import type { ClusterNode } from './cluster.js';
import { TestClient } from './client.js';

/** A presence rule for channels `who.*`, flushed every 50 ms (node flags). */
export const PRESENCE_NODE_FLAGS: readonly string[] = ['--channels', JSON.stringify([{ pattern: 'who.*', presence: true, presenceIntervalMs: 50 }])];

/**
 * Presence across nodes, whatever the Redis topology: a watcher on the first node, anonymous
 * members on the second and third, on every channel given (`who.*`, spread over shards on a
 * Cluster). The watcher sees each member join once and leave once, and every node answers the
 * union's count.
 */
export async function checkPresenceUnion(nodes: ClusterNode[], channels: string[], clients: TestClient[]): Promise<void> {
  const connect = async (node: ClusterNode): Promise<TestClient> => {
    const c = await TestClient.connect(node.url);
    clients.push(c);
    return c;
  };
  const watcher = await connect(nodes[0]!);
  for (const ch of channels) await watcher.subscribe(ch, { presence: true });
  // The watcher is a member too (its own join may or may not reach it, depending on when the flush falls): leave it out.
  const self = ((await watcher.request({ op: 'presence', ch: channels[0] })).members as Array<{ id: string }>)[0]!.id;
  const seen = (ch: string): string[] =>
    watcher.frames.flatMap((f) => (f.ev !== 'presence' || f.ch !== ch ? [] : [...((f.join as Array<{ id: string }>) ?? []).map((j) => `+${j.id}`), ...((f.leave as string[]) ?? []).map((id) => `-${id}`)])).filter((e) => e.slice(1) !== self);
  const members = [await connect(nodes[1]!), await connect(nodes[2]!)];
  for (const m of members) for (const ch of channels) await m.subscribe(ch);
  for (const ch of channels) await watcher.next(() => seen(ch).length === 2, 15_000);
  for (const ch of channels) {
    expect(await watcher.request({ op: 'occupancy', ch })).toMatchObject({ total: 3 });
    // Another node answers from the same union.
    expect(await members[0]!.request({ op: 'presence', ch })).toMatchObject({ total: 3 });
  }
  const joined = new Map(channels.map((ch) => [ch, seen(ch)]));
  for (const m of members) m.close();
  for (const ch of channels) await watcher.next(() => seen(ch).length === 4, 15_000);
  for (const ch of channels) {
    const ids = joined.get(ch)!.map((e) => e.slice(1));
    expect(ids.every((id) => id.includes('@'))).toBe(true);
    expect(seen(ch).sort()).toEqual([...ids.map((id) => `+${id}`), ...ids.map((id) => `-${id}`)].sort());
    expect(await watcher.request({ op: 'occupancy', ch })).toMatchObject({ total: 1 });
  }
}
