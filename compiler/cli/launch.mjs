#!/usr/bin/env node
/**
 * `node compiler/cli/launch.mjs <cli> [args]`: runs compiler/cli/<cli>.ts as precompiled
 * JavaScript, which is what every `npm run <cli>` does. Loading the TypeScript through a
 * transforming loader costs more than the compile itself, so the CLIs are bundled once with
 * esbuild into node_modules/.cache/stacklight/cli/<fingerprint>/ and run from there, with V8's
 * code cache: the bytecode of every function a run compiled, kept beside the bundle after the
 * first run, so that later runs neither parse nor compile what they run again.
 *
 * Never stale: the fingerprint covers every file under compiler/ (path, size, modification
 * time), this launcher and package-lock.json, so any edit makes a new bundle before the next
 * run; a code cache belongs to its bundle, and V8 refuses one that another V8 or other flags
 * made (the run then makes a new one). Plain JavaScript on purpose: it is the one file that must
 * run before anything is built.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Script } from 'node:vm';

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

/**
 * kubernetes-models' validator imports every language of ajv-i18n (24 modules) to call only its
 * English one, when a schema finds a problem: the bundle gets the English one alone.
 */
const ajvI18nEnglishOnly = {
  name: 'ajv-i18n-english-only',
  setup(build) {
    build.onResolve({ filter: /^ajv-i18n$/ }, () => ({ path: 'ajv-i18n', namespace: 'ajv-i18n-english-only' }));
    build.onLoad({ filter: /.*/, namespace: 'ajv-i18n-english-only' }, () => ({
      contents: "import en from 'ajv-i18n/localize/en'; export default { en };",
      resolveDir: ROOT,
    }));
  },
};

/**
 * A CommonJS bundle has no import.meta: esbuild makes it `{}`. A package's ES module that asks
 * for its own URL (Argo CD's kubernetes-models validator: `createRequire(import.meta.url)`) gets
 * the URL of its file in node_modules, so it resolves what it requires from where it is.
 */
const importMetaUrlOfItsFile = {
  name: 'import-meta-url-of-its-file',
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/].*\.m?js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes('import.meta.url')) return undefined;
      return { contents: source.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)), loader: 'js' };
    });
  },
};

/** Bundles every CLI into `dir` (built beside it, then renamed: a concurrent run sees all or nothing). */
async function bundle(dir) {
  const { build } = await import('esbuild');
  const staging = `${dir}.${process.pid}.tmp`;
  await build({
    entryPoints: entryPoints(),
    outdir: staging,
    bundle: true,
    // CommonJS: a script V8 can compile from a code cache (node:vm); Node 20 has no code cache for ES modules
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    // packages bundled too: resolving and lexing CommonJS packages at every start costs more
    // than the compile. Left out: esbuild (it runs a native binary of its package), and the two
    // heavy packages only some runs need (ts-morph: bump-image's editor; the Kubernetes client:
    // validate's field check and status), loaded from node_modules when used
    external: ['esbuild', 'ts-morph', '@kubernetes/client-node'],
    // import() becomes require(), which loads ES modules too (Node 20.19 and later): on Node 20 a
    // script run through node:vm imports only with an experimental option, and not at all once
    // compiled from a code cache
    supported: { 'dynamic-import': false },
    outExtension: { '.js': '.cjs' },
    plugins: [ajvI18nEnglishOnly, importMetaUrlOfItsFile],
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

/**
 * Runs a CLI's bundle as a CommonJS module (its own require, exports and file name), compiled
 * from its code cache when there is one. When there was none (or V8 refused it), a run that
 * succeeds writes one as the process exits, holding every function it compiled: a run that
 * stopped early (a usage error) would leave a cache of little.
 */
function runBundle(file, args) {
  const cacheFile = `${file}.v8-cache`;
  const cachedData = existsSync(cacheFile) ? readFileSync(cacheFile) : undefined;
  const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
  if (!cachedData || script.cachedDataRejected) {
    process.once('exit', (code) => {
      if (code !== 0) return;
      const staging = `${cacheFile}.${process.pid}.tmp`;
      try {
        writeFileSync(staging, script.createCachedData());
        renameSync(staging, cacheFile);
      } catch {
        rmSync(staging, { force: true }); // a run without a cache is slower, never wrong
      }
    });
  }
  process.argv = [process.argv[0], file, ...args];
  const bundled = { exports: {}, filename: file };
  script.runInThisContext()(bundled.exports, createRequire(file), bundled, file, dirname(file));
}

const [cli, ...args] = process.argv.slice(2);
if (!cli || !existsSync(join(CLI_DIR, `${cli}.ts`))) {
  const known = entryPoints().map((file) => file.slice(CLI_DIR.length + 1, -3)).join(', ');
  console.error(`usage: node compiler/cli/launch.mjs <cli> [args]; cli is one of: ${known}`);
  process.exit(2);
}
const dir = join(CACHE, fingerprint());
if (!existsSync(join(dir, `${cli}.cjs`))) await bundle(dir);
runBundle(join(dir, `${cli}.cjs`), args);
