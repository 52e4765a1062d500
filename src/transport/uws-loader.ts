import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { UwsModule } from './uws-api.js';

/** Which uWebSockets.js binary a process runs, and where it came from. */
export interface LoadedUws {
  readonly uws: UwsModule;
  /** `official`: the user-installed `uWebSockets.js`; `pinned`: our optional dependency's native build. */
  readonly source: 'official' | 'pinned';
  readonly packageName: string;
  readonly version: string;
  /** Absolute path of the native addon (`.node`) that was loaded. */
  readonly binary: string;
}

/** Which binary loadUws would load, found without loading it. */
export type FoundUws = Omit<LoadedUws, 'uws'>;

export const OFFICIAL_PACKAGE = 'uWebSockets.js';
export const PINNED_PACKAGE = '@trufflesuite/uws-js-unofficial';

const require = createRequire(import.meta.url);
let loaded: LoadedUws | undefined;

/** The addon file name both packages use: uws_<platform>_<arch>_<Node ABI>.node. */
export function binaryName(): string {
  return `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
}

/**
 * Loads uWebSockets.js once per process: the official package if installed, else the native
 * binary of the pinned npm build. The pinned package's own entry point (src/uws.js) silently
 * falls back to a JavaScript imitation when its binary does not load, so it is never used: we load
 * the `.node` file explicitly, and any failure is an Error saying why and how to fix it.
 */
export function loadUws(): LoadedUws {
  if (loaded === undefined) {
    const found = uwsPackage();
    if (found === undefined) throw new UwsLoadError(`neither ${OFFICIAL_PACKAGE} nor the optional dependency ${PINNED_PACKAGE} is installed`);
    loaded = loadBinary(found);
  }
  return loaded;
}

/** The package loadUws loads and its binary's path, found without loading it (undefined: neither is installed). */
export function uwsPackage(): FoundUws | undefined {
  const official = packageDir(OFFICIAL_PACKAGE);
  // The official package's main (uws.js) sits beside its binaries at the package root.
  if (official !== undefined) return described('official', OFFICIAL_PACKAGE, official, join(official, binaryName()));
  const pinned = packageDir(PINNED_PACKAGE, '/package.json');
  // binaries/ holds the package's CI builds for every platform it supports (dist/ holds a stray
  // linux-x64 developer build that needs a newer glibc).
  return pinned === undefined ? undefined : described('pinned', PINNED_PACKAGE, pinned, join(pinned, 'binaries', binaryName()));
}

function described(source: LoadedUws['source'], packageName: string, dir: string, binary: string): FoundUws {
  const version = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  return { source, packageName, version, binary };
}

function loadBinary(found: FoundUws): LoadedUws {
  const { source, packageName, version, binary } = found;
  const what = `${packageName}@${version}`;
  if (!existsSync(binary)) {
    throw new UwsLoadError(`${what} has no native binary for ${process.platform}-${process.arch} with Node ${process.versions.node} (ABI ${process.versions.modules}): ${binary} does not exist`);
  }
  let uws: UwsModule;
  try {
    uws = require(binary) as UwsModule;
  } catch (err) {
    throw new UwsLoadError(`${what}: loading ${binary} failed: ${(err as Error).message}`);
  }
  if (typeof uws.App !== 'function') throw new UwsLoadError(`${what}: ${binary} does not export App()`);
  return { uws, source, packageName, version, binary };
}

/** The directory of the package's entry (`subpath` or its main), or undefined when it is not installed. */
function packageDir(name: string, subpath = ''): string | undefined {
  try {
    return dirname(require.resolve(name + subpath));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return undefined;
    throw err;
  }
}

/** uWebSockets.js cannot run in this process; the message says why and how to fix it. */
export class UwsLoadError extends Error {
  constructor(reason: string) {
    super(
      `transport 'uws' is unavailable: ${reason}. ` +
        `Fix: run on Node 20 (the bundled ${PINNED_PACKAGE} build has binaries for Node 16, 18 and 20 on Linux x64/arm64/arm, macOS x64/arm64 and Windows x64), ` +
        `or install the official package matching your Node and glibc (npm install uNetworking/uWebSockets.js#v20.52.0 or later needs glibc >= 2.38; see docs/transports.md), ` +
        `or use --transport ws.`,
    );
    this.name = 'UwsLoadError';
  }
}
