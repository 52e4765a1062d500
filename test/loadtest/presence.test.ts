import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runNode } from '../../devkit/process.js';

/**
 * A few seconds of the presence benchmark (`npm run loadtest -- presence`), run through the load
 * tool's CLI at a tiny size, and its JSON read back: its counts add up. Never timings (its own
 * CPU check may fail on a loaded machine; the exit code is not asserted).
 */

const out = mkdtempSync(join(tmpdir(), 'sluice-presence-bench-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

interface Row {
  readonly mode: string;
  readonly members: { joined: number; left: number; connectFailures: Record<string, number>; errors: Record<string, number> };
  readonly watchersReady: number;
  readonly watched: { eventFrames: number; resyncs: number; maxEventFramesOneWatcher: number; sampledJoins: number; sampledLeaves: number };
}

interface Figures {
  readonly churn: Row[];
  readonly big: { members: number; fullListing: { complete: boolean; pages: number }; phases: Array<{ name: string; requests: number }>; listingsChecked: number; listingErrors: string[] };
}

const MEMBERS = 30;
const WATCHERS = 8;

describe('presence benchmark, short run', { timeout: 120_000 }, () => {
  it('every member joins and leaves once, interval 0 shows each change, batching coalesces, listings are complete', async () => {
    const args = ['presence', '--brokers', 'memory', '--modes', 'batched,interval0', '--members', String(MEMBERS), '--watchers', String(WATCHERS), '--seconds', '2', '--hold-ms', '600', '--big-members', '2000', '--phase-ms', '300', '--pagers', '2', '--out', out];
    const tool = runNode({ script: 'loadtest/tool/cli.ts', args });
    const code = await tool.exited;
    const files = readdirSync(out).filter((f) => f.endsWith('.json'));
    expect(files, `exit ${code}; stderr: ${tool.stderr.slice(-2000)}`).toHaveLength(1);
    const figures = JSON.parse(readFileSync(join(out, files[0]!), 'utf8')) as Figures;
    const [batched, interval0] = figures.churn;
    for (const row of [batched!, interval0!]) {
      expect(row.watchersReady).toBe(WATCHERS);
      expect(row.members).toMatchObject({ joined: MEMBERS, left: MEMBERS, connectFailures: {}, errors: {} });
      expect(row.watched.resyncs).toBe(0);
    }
    // A frame per change: the sampled watcher sees every join and every leave, each in a frame of its own.
    expect(interval0!.watched.sampledJoins).toBe(MEMBERS);
    expect(interval0!.watched.sampledLeaves).toBe(MEMBERS);
    expect(interval0!.watched.maxEventFramesOneWatcher).toBe(2 * MEMBERS);
    // Batched: joins and leaves balance, a join and its leave within one interval appear in neither, and frames carry several.
    expect(batched!.watched.sampledJoins).toBe(batched!.watched.sampledLeaves);
    expect(batched!.watched.sampledJoins).toBeLessThanOrEqual(MEMBERS);
    expect(batched!.watched.maxEventFramesOneWatcher).toBeLessThan(2 * MEMBERS);
    expect(figures.big.members).toBe(2000);
    expect(figures.big.listingErrors).toEqual([]);
    expect(figures.big.listingsChecked).toBeGreaterThan(0);
    // 2,000 members in pages of 100: the 20th page is full, so a cursor follows it and a 21st, empty page ends the listing.
    expect(figures.big.fullListing).toMatchObject({ complete: true, pages: 21 });
    expect(figures.big.phases.filter((p) => p.name !== 'quiet (bystander only)').every((p) => p.requests > 0)).toBe(true);
  });
});
