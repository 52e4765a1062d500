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
  loaded ??= loadOfficial() ?? loadPinned();
  return loaded;
}

function loadOfficial(): LoadedUws | undefined {
  const dir = packageDir(OFFICIAL_PACKAGE);
  if (dir === undefined) return undefined;
  // The official package's main (uws.js) sits beside its binaries at the package root.
  return loadBinary('official', OFFICIAL_PACKAGE, dir, join(dir, binaryName()));
}

function loadPinned(): LoadedUws {
  const dir = packageDir(PINNED_PACKAGE, '/package.json');
  if (dir === undefined) {
    throw new UwsLoadError(`neither ${OFFICIAL_PACKAGE} nor the optional dependency ${PINNED_PACKAGE} is installed`);
  }
  // binaries/ holds the package's CI builds for every platform it supports (dist/ holds a stray
  // linux-x64 developer build that needs a newer glibc).
  return loadBinary('pinned', PINNED_PACKAGE, dir, join(dir, 'binaries', binaryName()));
}

function loadBinary(source: LoadedUws['source'], packageName: string, dir: string, binary: string): LoadedUws {
  const version = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
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
