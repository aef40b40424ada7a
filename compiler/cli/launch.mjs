#!/usr/bin/env node
/**
 * `node compiler/cli/launch.mjs <cli> [args]`: runs compiler/cli/<cli>.ts as precompiled
 * JavaScript, which is what every `npm run <cli>` does. Loading the TypeScript through a
 * transforming loader costs more than the compile itself, so the CLIs are bundled once with
 * esbuild into node_modules/.cache/stacklight/cli/<fingerprint>/ and run from there.
 *
 * Never stale: the fingerprint covers every file under compiler/ (path, size, modification
 * time), this launcher and package-lock.json, so any edit makes a new bundle before the next
 * run. Plain JavaScript on purpose: it is the one file that must run before anything is built.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CLI_DIR = dirname(fileURLToPath(import.meta.url));
const COMPILER_DIR = resolve(CLI_DIR, '..');
const ROOT = resolve(COMPILER_DIR, '..');
const CACHE = join(ROOT, 'node_modules', '.cache', 'stacklight', 'cli');

/** Every file under compiler/, recursively, in a stable order (code-unit order: localeCompare costs milliseconds here). */
function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((entry) => (entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : [join(dir, entry.name)]));
}

function fingerprint() {
  const hash = createHash('sha256');
  for (const file of [...sourceFiles(COMPILER_DIR), join(ROOT, 'package-lock.json')]) {
    const stat = statSync(file, { throwIfNoEntry: false });
    hash.update(`${relative(ROOT, file)}\0${stat?.size}\0${stat?.mtimeMs}\n`);
  }
  return hash.digest('hex').slice(0, 16);
}

/** The CLIs: every .ts file of compiler/cli. */
function entryPoints() {
  return readdirSync(CLI_DIR).filter((file) => file.endsWith('.ts')).map((file) => join(CLI_DIR, file));
}

/** Bundles every CLI into `dir` (built beside it, then renamed: a concurrent run sees all or nothing). */
async function bundle(dir) {
  const { build } = await import('esbuild');
  const staging = `${dir}.${process.pid}.tmp`;
  await build({
    entryPoints: entryPoints(),
    outdir: staging,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // packages bundled too: resolving and lexing CommonJS packages at every start costs more
    // than the compile; what a CLI imports lazily stays a chunk of its own, loaded when used
    // (esbuild itself runs a native binary of its package: it stays a package)
    external: ['esbuild'],
    outExtension: { '.js': '.mjs' },
    // bundled CommonJS packages require Node's built-ins
    banner: { js: "import { createRequire as stacklightRequire } from 'node:module'; const require = stacklightRequire(import.meta.url);" },
    // the sources find the repository from where they are (compiler/tools.ts); the bundle is elsewhere
    define: { STACKLIGHT_COMPILER_DIR: JSON.stringify(COMPILER_DIR) },
    logLevel: 'error',
  });
  try {
    renameSync(staging, dir);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(dir)) throw error;
  }
  // bundles of earlier sources are never used again
  for (const old of readdirSync(CACHE)) {
    if (join(CACHE, old) !== dir && !old.endsWith('.tmp')) rmSync(join(CACHE, old), { recursive: true, force: true });
  }
}

const [cli, ...args] = process.argv.slice(2);
if (!cli || !existsSync(join(CLI_DIR, `${cli}.ts`))) {
  const known = entryPoints().map((file) => file.slice(CLI_DIR.length + 1, -3)).join(', ');
  console.error(`usage: node compiler/cli/launch.mjs <cli> [args]; cli is one of: ${known}`);
  process.exit(2);
}
const dir = join(CACHE, fingerprint());
if (!existsSync(join(dir, `${cli}.mjs`))) await bundle(dir);
process.argv = [process.argv[0], join(dir, `${cli}.mjs`), ...args];
await import(pathToFileURL(join(dir, `${cli}.mjs`)).href);
