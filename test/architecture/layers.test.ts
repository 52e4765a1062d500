import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SRC = join(ROOT, 'src');

interface Layer {
  readonly rank: number;
  readonly mayImport: ReadonlySet<string>;
}

/** The "## Layers" table of docs/architecture.md: folder → rank and what it may import. */
function layersFromDocs(): Map<string, Layer> {
  const text = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');
  const start = text.indexOf('\n## Layers\n');
  if (start < 0) throw new Error('docs/architecture.md has no "## Layers" section');
  const end = text.indexOf('\n## ', start + 1);
  const rows = text
    .slice(start, end)
    .split('\n')
    .filter((line) => /^\|\s*\d+\s*\|/.test(line))
    .map((line) => line.split('|').slice(1, -1).map((c) => c.trim()));
  const layers = new Map<string, Layer>();
  for (const [rank, folder, , mayImport] of rows) {
    const names = [...mayImport!.matchAll(/`([a-z-]+)`/g)].map((m) => m[1]!);
    layers.set(folder!.replace(/[`/]/g, ''), { rank: Number(rank), mayImport: new Set(names) });
  }
  return layers;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|mts|js|mjs)$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

/** Module specifiers a file imports or re-exports, statically or dynamically. */
function specifiers(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]/gm)) found.push(m[1]!);
  for (const m of text.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)) found.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(m[1]!);
  return found;
}

/** The top folder of src/ a path is in, or undefined for the root files (gateway, cli, index). */
function folderOf(path: string): string | undefined {
  const parts = relative(SRC, path).split(/[\\/]/);
  return parts.length > 1 ? parts[0] : undefined;
}

describe('the layering of src/ (docs/architecture.md)', () => {
  const layers = layersFromDocs();

  it('reads a consistent table: every folder of src/ has a row, and each may import only lower ranks', () => {
    const folders = readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    expect([...layers.keys()].sort(), 'add a row for every folder of src/ to the Layers table').toEqual(folders.sort());
    for (const [folder, layer] of layers) {
      for (const below of layer.mayImport) {
        expect(layers.has(below), `${folder} may import unknown folder ${below}`).toBe(true);
        expect(layers.get(below)!.rank, `${folder} (rank ${layer.rank}) may import ${below}`).toBeLessThan(layer.rank);
      }
    }
  });

  it('has no import in src/ that points up or sideways', () => {
    const violations: string[] = [];
    for (const file of filesUnder(SRC)) {
      const from = folderOf(file);
      if (from === undefined) continue;
      for (const spec of specifiers(file)) {
        if (!spec.startsWith('.')) continue;
        const to = folderOf(resolve(dirname(file), spec));
        if (to === from) continue;
        if (to === undefined || !layers.get(from)!.mayImport.has(to)) violations.push(`${relative(ROOT, file)} imports ${spec}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('keeps ws and uWebSockets.js behind the transport seam', () => {
    const leaks: string[] = [];
    for (const file of filesUnder(SRC)) {
      if (folderOf(file) === 'transport') continue;
      for (const spec of specifiers(file)) if (spec === 'ws' || /uws|uWebSockets/i.test(spec)) leaks.push(`${relative(ROOT, file)} imports ${spec}`);
    }
    expect(leaks).toEqual([]);
  });

  it('builds the client from protocol/ and util/ only (the browser bundle carries no server code)', () => {
    const reached = new Set<string>();
    const visit = (file: string): void => {
      if (reached.has(file)) return;
      reached.add(file);
      for (const spec of specifiers(file)) if (spec.startsWith('.')) visit(resolve(dirname(file), spec).replace(/\.js$/, '.ts'));
    };
    visit(join(SRC, 'client/index.ts'));
    const outside = [...reached].map((f) => folderOf(f)).filter((f) => f !== 'client' && f !== 'protocol' && f !== 'util');
    expect(outside).toEqual([]);
  });

  it('keeps test/ and loadtest/ apart: both may use devkit/ and src/, neither the other', () => {
    const crossings: string[] = [];
    for (const [dir, other] of [
      ['test', 'loadtest'],
      ['loadtest', 'test'],
      ['devkit', 'test'],
      ['devkit', 'loadtest'],
    ] as const) {
      let files: string[];
      try {
        files = filesUnder(join(ROOT, dir));
      } catch {
        continue;
      }
      for (const file of files) {
        for (const spec of specifiers(file)) {
          if (!spec.startsWith('.')) continue;
          const target = relative(ROOT, resolve(dirname(file), spec));
          if (target === other || target.startsWith(`${other}/`)) crossings.push(`${relative(ROOT, file)} imports ${spec}`);
        }
      }
    }
    expect(crossings).toEqual([]);
  });
});
