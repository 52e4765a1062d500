import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigSchema, type Config } from './schema.js';

/** A configuration problem; the message names the key and where its value came from. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface LoadOptions {
  /** Path of a YAML or JSON file. */
  readonly file?: string;
  /** Environment to read `SLUICE_*` variables from. */
  readonly env?: NodeJS.ProcessEnv;
  /** Overrides as key paths (`outbound.maxQueueBytes`) to raw string values, e.g. from CLI flags. */
  readonly flags?: ReadonlyArray<readonly [string, string]>;
  /** Overrides as an object (programmatic use, tests). Applied last. */
  readonly overrides?: unknown;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Tree = Record<string, unknown>;

const DEFAULTS = ConfigSchema.parse({}) as unknown as Tree;

/** Every settable key path with its default value, e.g. ['outbound.maxQueueBytes', 1048576]. */
export function keyPaths(tree: Tree = DEFAULTS, prefix = ''): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = [];
  for (const [k, v] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(...keyPaths(v as Tree, path));
    else out.push([path, v]);
  }
  return out;
}

/** `outbound.maxQueueBytes` → `SLUICE_OUTBOUND_MAX_QUEUE_BYTES`. */
export function envName(path: string): string {
  return 'SLUICE_' + path.split('.').map((s) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

const PATHS = new Map(keyPaths());
const ENV_TO_PATH = new Map([...PATHS.keys()].map((p) => [envName(p), p]));

/**
 * Builds the effective configuration: defaults < file < environment < flags < overrides.
 * Validated once; the result is deeply frozen. Throws ConfigError naming the bad key.
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const sources = new Map<string, string>();
  let tree: Tree = {};
  if (options.file) {
    tree = readConfigFile(options.file);
    for (const [path] of keyPaths(tree)) sources.set(path, options.file);
  }
  for (const [name, raw] of Object.entries(options.env ?? {})) {
    if (!name.startsWith('SLUICE_') || raw === undefined || name.startsWith('SLUICE_TEST_')) continue;
    const path = ENV_TO_PATH.get(name);
    if (!path) throw new ConfigError(`unknown environment variable ${name} (no config key maps to it)`);
    setPath(tree, path, coerce(path, raw, name));
    sources.set(path, name);
  }
  for (const [path, raw] of options.flags ?? []) {
    if (!PATHS.has(path)) throw new ConfigError(`unknown option --${path}`);
    setPath(tree, path, coerce(path, raw, `--${path}`));
    sources.set(path, `--${path}`);
  }
  if (options.overrides !== undefined) tree = merge(tree, options.overrides as Tree);

  const result = ConfigSchema.safeParse(tree);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const path = issue.path.join('.');
      const keys = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => (path ? `${path}.${k}` : k)) : [];
      if (keys.length) return `${keys.join(', ')}: unknown key${keys.length > 1 ? 's' : ''}`;
      const from = sources.get(path);
      return `${path || '(root)'}: ${issue.message}${from ? ` (from ${from})` : ''}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  return deepFreeze(result.data);
}

function readConfigFile(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(`cannot parse config file ${file}: ${(err as Error).message}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`config file ${file} must hold a mapping of keys`);
  return value as Tree;
}

function coerce(path: string, raw: string, from: string): unknown {
  const def = PATHS.get(path);
  if (typeof def === 'string') return raw;
  if (typeof def === 'number') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`${path}: expected a number, got ${JSON.stringify(raw)} (from ${from})`);
    return n;
  }
  if (typeof def === 'boolean') {
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    throw new ConfigError(`${path}: expected true or false, got ${JSON.stringify(raw)} (from ${from})`);
  }
  try {
    return JSON.parse(raw) as Json;
  } catch {
    throw new ConfigError(`${path}: expected JSON, got ${JSON.stringify(raw)} (from ${from})`);
  }
}

function setPath(tree: Tree, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[part] = {};
    node = node[part] as Tree;
  }
  node[parts[parts.length - 1]!] = value;
}

function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over ?? {})) {
    const b = out[k];
    out[k] =
      v !== null && typeof v === 'object' && !Array.isArray(v) && b !== null && typeof b === 'object' && !Array.isArray(b)
        ? merge(b as Tree, v as Tree)
        : v;
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
