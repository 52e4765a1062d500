import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runNode } from '../../devkit/process.js';
import { readProc } from '../../devkit/proc.js';

/**
 * The adversary suite's short version, run as its users run it (`npm run loadtest -- adversary`,
 * one gateway for every pattern, two seconds each, a 4 MiB memory budget) and its report read
 * back. Counts only, never timings or RSS (those are the table in docs/operations.md).
 */

const out = mkdtempSync(join(tmpdir(), 'sluice-adversary-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

interface Row {
  readonly pattern: string;
  readonly alive: boolean;
  readonly bystander: { readonly published: number; readonly lost: number; readonly pongs: number };
  readonly verdicts: Record<string, number>;
  readonly closesByServer: Record<string, number>;
  readonly budget: Record<string, number>;
  readonly nice: { readonly attack: number; readonly gateway: number; readonly bystander: number };
}

describe('adversary suite (short)', () => {
  it('no pattern stalls the gateway or costs the bystander a message, and the gateway answers each as documented', async () => {
    const tool = runNode({ script: 'loadtest/tool/cli.ts', args: ['adversary', '--short', '--shared-gateway', '--seconds', '2', '--budget-mib', '4', '--out', out] });
    const code = await tool.exited;
    const reports = readdirSync(out).filter((f) => f.endsWith('.json'));
    expect(reports, `exit ${code}; stderr: ${tool.stderr.slice(-2000)}`).toHaveLength(1);
    const rows = (JSON.parse(readFileSync(join(out, reports[0]!), 'utf8')) as { rows: Row[] }).rows;
    const row = (name: string): Row => rows.find((r) => r.pattern === name)!;
    expect(rows).toHaveLength(11);
    // The attacks run at a lower priority (ten nice steps by default); the gateway and the bystander at this process's.
    const own = readProc(process.pid)!.nice;
    for (const r of rows) {
      expect(r.nice, r.pattern).toEqual({ attack: Math.min(19, own + 10), gateway: own, bystander: own });
      expect(r.alive, r.pattern).toBe(true);
      expect(r.bystander.lost, `${r.pattern}: bystander messages lost`).toBe(0);
      expect(r.bystander.published, `${r.pattern}: the bystander kept publishing`).toBeGreaterThan(0);
      expect(Object.keys(r.verdicts).filter((k) => k.startsWith('generator error')), r.pattern).toEqual([]);
    }
    // The flood's history is evicted to stay within the budget; the publishers themselves are never cut.
    expect(row('publish-flood').budget['history evicted']).toBeGreaterThan(0);
    expect(row('publish-flood').verdicts.ack).toBeGreaterThan(0);
    expect(row('publish-flood').closesByServer).toEqual({});
    // Connections cost their share of the budget: past the soft mark the rest are refused with 503.
    expect(row('ip-flood').verdicts['upgrade 503']).toBeGreaterThan(0);
    // Every resumer of a full history that is answered in time gets all of it (or a 503 before it connects).
    const storm = row('resume-storm').verdicts;
    expect(storm.recovered).toBeGreaterThan(0);
    expect(storm.unrecovered ?? 0).toBe(0);
    // Receive windows: a total never written is refused, each as a frame; 0 is a report like any other.
    expect(row('window-abuse').verdicts['err bad_window']).toBeGreaterThan(0);
    expect(row('window-abuse').verdicts.ack).toBeGreaterThan(0);
    // Each protocol violation ends its connection, with a code.
    const violations = Object.entries(row('violations').verdicts).filter(([k]) => k.includes(': '));
    expect(violations.length).toBeGreaterThanOrEqual(12);
    for (const [kind] of violations) expect(kind).toMatch(/: (close \d+|refused)$/);
  }, 120_000);
});
