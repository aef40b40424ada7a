/**
 * Reads config/: the defaults (config/stack.ts) and one file per environment
 * (config/environments/<name>.ts), then resolves each environment (defaults + overrides) and
 * validates it. Nothing here writes anything.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from '../tools.ts';
import type { StackConfig } from './types.ts';
import { applyOverrides } from './merge.ts';
import { environmentIssues, validateStack } from './validate.ts';
import type { Issue } from './checks.ts';
import { byCodeUnit } from '../render/order.ts';

/** The first path element of problems in config/stack.ts itself. */
export const DEFAULTS = 'defaults';

const ENVIRONMENT_NAME = /^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/;

/** Compiled config files, by the hash of config/'s contents. */
const CONFIG_CACHE = join(REPO_ROOT, 'node_modules', '.cache', 'stacklight', 'config');

export interface RawConfig {
  defaults: unknown;
  environments: { name: string; overrides: unknown }[];
}

export interface ResolvedConfig {
  defaults: StackConfig;
  environments: { name: string; config: StackConfig }[];
}

export class ConfigError extends Error {
  constructor(readonly issues: readonly Issue[]) {
    super(issues.map((issue) => `${issue.path}: ${issue.message}`).join('\n'));
  }
}

/** Every file under config/ (relative path → bytes), read once (and synchronously: inputs.ts): the compile sees one state of it. */
function readTree(dir: string, prefix = ''): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true }).sort((a, b) => byCodeUnit(a.name, b.name))) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) for (const [inner, bytes] of readTree(dir, path)) files.set(inner, bytes);
    else if (entry.isFile()) files.set(path, readFileSync(join(dir, path)));
  }
  return files;
}

function treeHash(files: ReadonlyMap<string, Buffer>): string {
  const hash = createHash('sha256');
  for (const [path, bytes] of files) hash.update(path).update('\0').update(bytes).update('\0');
  return hash.digest('hex').slice(0, 24);
}

function esbuildIssues(error: unknown): Issue[] {
  const errors = (error as { errors?: { text: string; location?: { file: string; line: number } }[] }).errors ?? [];
  if (errors.length === 0) throw error;
  return errors.map((e) => ({ path: e.location ? `config/${e.location.file.replace(/^.*?snapshot\//, '')}:${e.location.line}` : 'config', message: e.text }));
}

/**
 * The config files as JavaScript, one esbuild bundle per entry file (its imports from config/
 * inlined, its type imports erased), kept by the hash of config/'s contents: a compile of an
 * unchanged config/ loads them without running esbuild. The CLIs and the tests load config/ the
 * same way, and no TypeScript loader is needed.
 */
async function compiledConfig(files: ReadonlyMap<string, Buffer>, entries: readonly string[]): Promise<string> {
  const outdir = join(CONFIG_CACHE, treeHash(files));
  if (await stat(outdir).then(() => true, () => false)) return outdir;
  const work = await mkdtemp(join(tmpdir(), 'stacklight-config-'));
  try {
    for (const [path, bytes] of files) {
      await mkdir(dirname(join(work, 'snapshot', path)), { recursive: true });
      await writeFile(join(work, 'snapshot', path), bytes);
    }
    const { build } = await import('esbuild');
    await build({
      entryPoints: entries.map((file) => join(work, 'snapshot', file)),
      outbase: join(work, 'snapshot'),
      outdir: join(work, 'out'),
      outExtension: { '.js': '.mjs' },
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      logLevel: 'silent',
    }).catch((error: unknown) => {
      throw new ConfigError(esbuildIssues(error));
    });
    await mkdir(CONFIG_CACHE, { recursive: true });
    // another process may have made the same one meanwhile: either is right
    await rename(join(work, 'out'), outdir).catch(async (error: unknown) => {
      if (!(await stat(outdir).then(() => true, () => false))) throw error;
    });
    await pruneConfigCache();
    return outdir;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Keeps the most recent compiled configs (each a few kilobytes; the tests make many). */
async function pruneConfigCache(keep = 64): Promise<void> {
  const names = await readdir(CONFIG_CACHE);
  const entries = await Promise.all(names.map(async (name) => ({ name, mtime: (await stat(join(CONFIG_CACHE, name))).mtimeMs })));
  const oldest = entries.sort((a, b) => b.mtime - a.mtime).slice(keep);
  for (const { name } of oldest) await rm(join(CONFIG_CACHE, name), { recursive: true, force: true });
}

/**
 * A config file's export, copied: callers may change what they get without touching the module.
 * Loaded with require(), which loads ES modules too: the CLIs' bundle cannot import()
 * (compiler/cli/launch.mjs).
 */
function requireExport(compiled: string, file: string, name: string): unknown {
  const path = join(compiled, file.replace(/\.ts$/, '.mjs'));
  let module: Record<string, unknown>;
  try {
    module = createRequire(path)(path) as Record<string, unknown>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ASYNC_MODULE') throw error;
    throw new ConfigError([{ path: `config/${file}`, message: 'uses top-level await: a config file computes its values without awaiting' }]);
  }
  if (!(name in module)) throw new ConfigError([{ path: `config/${file}`, message: `does not export \`${name}\`` }]);
  return structuredClone(module[name]);
}

/**
 * Evaluates the config files: config/stack.ts's `stack` and each config/environments/<name>.ts's
 * `overrides`. Config files import only types from compiler/ (erased) and values from config/.
 */
export async function readConfig(configDir: string): Promise<RawConfig> {
  const tree = readTree(configDir);
  const files = [...tree.keys()].filter((path) => /^environments\/[^/]+\.ts$/.test(path)).map((path) => path.slice('environments/'.length));
  if (!tree.has('stack.ts')) throw new ConfigError([{ path: 'config/stack.ts', message: `is missing (in ${configDir})` }]);
  for (const file of files) {
    const name = file.slice(0, -'.ts'.length);
    if (!ENVIRONMENT_NAME.test(name)) {
      throw new ConfigError([{ path: `config/environments/${file}`, message: `"${name}" is not an environment name (lower-case letters, digits, "-", at most 32)` }]);
    }
  }
  const compiled = await compiledConfig(tree, ['stack.ts', ...files.map((file) => `environments/${file}`)]);
  const defaults = requireExport(compiled, 'stack.ts', 'stack');
  const environments = [];
  for (const file of files) {
    environments.push({ name: file.slice(0, -'.ts'.length), overrides: requireExport(compiled, `environments/${file}`, 'overrides') });
  }
  return { defaults, environments };
}

/**
 * One environment's config from `configDir`, validated with all the others; `alone`: only with the
 * defaults, so that the other environments' problems do not block it (a password rotation).
 */
export async function environmentConfig(configDir: string, environment: string, { alone = false } = {}): Promise<StackConfig> {
  const raw = await readConfig(configDir);
  if (!raw.environments.some((candidate) => candidate.name === environment)) {
    throw new Error(`no environment "${environment}": expected config/environments/${environment}.ts`);
  }
  const environments = alone ? raw.environments.filter((candidate) => candidate.name === environment) : raw.environments;
  return resolveConfig({ ...raw, environments }).environments.find((candidate) => candidate.name === environment)!.config;
}

/** Validates the defaults and every environment; throws one ConfigError listing every problem. */
export function resolveConfig(raw: RawConfig): ResolvedConfig {
  const defaultIssues = validateStack(raw.defaults, DEFAULTS);
  if (defaultIssues.length > 0) throw new ConfigError(defaultIssues);
  if (raw.environments.length === 0) throw new ConfigError([{ path: 'environments', message: 'no environment: add config/environments/<name>.ts' }]);
  const issues: Issue[] = [];
  const environments = raw.environments.map(({ name, overrides }) => {
    const merged = applyOverrides(raw.defaults, overrides);
    const mergedIssues = validateStack(merged, name);
    issues.push(...mergedIssues);
    // the environment's own checks read a valid merged config: only when the merge has no issue
    if (mergedIssues.length === 0) issues.push(...environmentIssues(overrides, raw.defaults as StackConfig, merged as StackConfig, name));
    return { name, config: merged as StackConfig };
  });
  if (issues.length > 0) throw new ConfigError(issues);
  return { defaults: raw.defaults as StackConfig, environments };
}
