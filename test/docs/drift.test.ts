import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { keyPaths } from '../../src/config/load.js';
import { CLOSE } from '../../src/protocol/close-codes.js';
import { ERRORS } from '../../src/protocol/errors.js';
import { HTTP_REFUSALS } from '../../src/protocol/refusals.js';
import { REQUEST_FIELDS } from '../../src/protocol/requests.js';
import { encodeDeltaMessage, encodeFetchAck } from '../../src/protocol/frames.js';
import { GATEWAY_NODE_FLAGS, ROOT } from '../../devkit/process.js';

/** The rows of the Markdown table(s) under a `## heading`, as arrays of trimmed cells. */
function tableRows(file: string, heading: string): string[][] {
  const text = readFileSync(`${ROOT}/${file}`, 'utf8');
  const start = text.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`${file} has no "## ${heading}" section`);
  const end = text.indexOf('\n## ', start + 1);
  const section = text.slice(start, end < 0 ? undefined : end);
  return section
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|\s*-/.test(line))
    .map((line) => line.split('|').slice(1, -1).map((c) => c.trim()))
    .slice(1); // header row
}

const unquote = (cell: string) => cell.replace(/^`|`$/g, '');

/** The text of the `### ` section of docs/protocol.md whose heading names `name` in backquotes. */
function protocolSection(name: string): string {
  const text = readFileSync(`${ROOT}/docs/protocol.md`, 'utf8');
  const start = text.split('\n### ').findIndex((s) => s.split('\n')[0]!.includes(`\`${name}\``));
  if (start < 0) throw new Error(`docs/protocol.md has no "### \`${name}\`" section`);
  return text.split('\n### ')[start]!.split('\n## ')[0]!;
}

describe('code and docs stay in step', () => {
  it('ships the gateway with the Node flags the bench and tests measure (npm start, the Docker image, docs/operations.md)', () => {
    const start = (JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { scripts: Record<string, string> }).scripts.start!;
    expect(start).toBe(`node ${GATEWAY_NODE_FLAGS.join(' ')} dist/cli.js`);
    const cmd = /^CMD (\[.*\])$/m.exec(readFileSync(`${ROOT}/Dockerfile`, 'utf8'))?.[1];
    expect(JSON.parse(cmd ?? '[]')).toEqual(['node', ...GATEWAY_NODE_FLAGS, 'dist/cli.js']);
    const ops = readFileSync(`${ROOT}/docs/operations.md`, 'utf8');
    for (const flag of GATEWAY_NODE_FLAGS) expect(ops).toContain(flag);
  });
  it('documents every error code in docs/protocol.md, and no other', () => {
    const documented = tableRows('docs/protocol.md', 'Error codes').map((r) => unquote(r[0]!));
    expect(documented.sort(), 'edit the "Error codes" table of docs/protocol.md').toEqual(Object.keys(ERRORS).sort());
    for (const row of tableRows('docs/protocol.md', 'Error codes')) {
      const code = unquote(row[0]!) as keyof typeof ERRORS;
      expect(row[1], `temporary flag of ${code}`).toBe(ERRORS[code].temporary ? 'yes' : 'no');
    }
  });

  it('documents every request and each of its fields in docs/protocol.md', () => {
    const text = readFileSync(`${ROOT}/docs/protocol.md`, 'utf8');
    // A field may be documented in its request's section, or as a member in the section of the feature it serves (presence's fields of `sub`).
    const requests = text.slice(text.indexOf('\n## Requests'), text.indexOf('\n## Events'));
    for (const [op, fields] of Object.entries(REQUEST_FIELDS)) {
      const section = protocolSection(op);
      for (const field of fields) {
        const shown = section.includes(`"${field}"`) || section.includes(`\`${field}\``) || requests.includes(`"${field}":`);
        expect(shown, `field ${field} of ${op} in docs/protocol.md`).toBe(true);
      }
    }
  });

  it('documents the fields of a delta msg and of a fetch answer in docs/protocol.md', () => {
    const fields = (text: string) => Object.keys(JSON.parse(text) as object);
    const msg = protocolSection('msg');
    for (const field of fields(encodeDeltaMessage('c', 2, 'k', 1, 'x').toString())) expect(msg.includes(`"${field}"`), `msg field ${field}`).toBe(true);
    const fetch = protocolSection('fetch');
    for (const field of [...fields(encodeFetchAck(1, 'c', 'k', 'e', 1, { seq: 1, rawData: '1' })), ...fields(encodeFetchAck(1, 'c', 'k', 'e', 1, undefined))]) {
      expect(fetch.includes(`"${field}"`), `fetch answer field ${field}`).toBe(true);
    }
  });

  it('documents every close code in docs/protocol.md, and no other', () => {
    const rows = tableRows('docs/protocol.md', 'Close codes');
    const documented = rows.map((r) => Number(r[0]));
    const codes = Object.values(CLOSE).map((c) => c.code);
    expect(documented.sort(), 'edit the "Close codes" table of docs/protocol.md').toEqual([...codes].sort());
    for (const row of rows) {
      const entry = Object.entries(CLOSE).find(([, c]) => c.code === Number(row[0]))!;
      expect(row[2], `name of close code ${row[0]}`).toBe(entry[0]);
    }
  });

  it('documents every HTTP refusal in docs/protocol.md with its status, and no other', () => {
    const rows = tableRows('docs/protocol.md', 'HTTP refusals');
    expect(rows.map((r) => r[1]!).sort(), 'edit the "HTTP refusals" table of docs/protocol.md').toEqual(Object.keys(HTTP_REFUSALS).sort());
    for (const row of rows) {
      const name = row[1] as keyof typeof HTTP_REFUSALS;
      expect(Number(row[0]), `status of ${name}`).toBe(HTTP_REFUSALS[name].status);
    }
  });

  it('documents every configuration key in README.md (or docs/security.md) with its default, and no other', () => {
    const rows = [...tableRows('README.md', 'Configuration'), ...tableRows('docs/security.md', 'Configuration')];
    const documented = new Map(rows.map((r) => [unquote(r[0]!), unquote(r[1]!)]));
    const keys = keyPaths().map(([k]) => k);
    expect([...documented.keys()].sort(), 'add or remove rows in the configuration table of README.md').toEqual([...keys].sort());
    for (const [key, def] of keyPaths()) {
      const shown = typeof def === 'string' ? (def === '' ? '""' : def) : JSON.stringify(def);
      expect(documented.get(key), `default of ${key} in README.md`).toBe(shown);
    }
  });
});
