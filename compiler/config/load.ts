/**
 * Reads config/: the defaults (config/stack.ts) and one file per environment
 * (config/environments/<name>.ts), then resolves each environment (defaults + overrides) and
 * validates it. Nothing here writes anything.
 */
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { StackConfig } from './types.ts';
import { applyOverrides } from './merge.ts';
import { environmentIssues, validateStack } from './validate.ts';
import type { Issue } from './checks.ts';

/** The first path element of problems in config/stack.ts itself. */
export const DEFAULTS = 'defaults';

const ENVIRONMENT_NAME = /^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/;

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

async function importExport(snapshot: string, file: string, name: string): Promise<unknown> {
  const module = (await import(pathToFileURL(join(snapshot, file)).href)) as Record<string, unknown>;
  if (!(name in module)) throw new ConfigError([{ path: `config/${file}`, message: `does not export \`${name}\`` }]);
  return module[name];
}

/**
 * Evaluates the config files. They are imported from a private snapshot of the directory: the
 * compile sees one consistent state of config/, and a process that compiles again after an edit
 * (the tests do) gets fresh modules instead of the module cache's. Config files import only
 * types from compiler/ (erased at run time) and values from config/ itself.
 */
export async function readConfig(configDir: string): Promise<RawConfig> {
  const snapshot = await mkdtemp(join(tmpdir(), 'stacklight-config-'));
  try {
    await cp(configDir, snapshot, { recursive: true });
    const defaults = await importExport(snapshot, 'stack.ts', 'stack');
    const files = (await readdir(join(snapshot, 'environments'))).filter((file) => file.endsWith('.ts')).sort();
    const environments = [];
    for (const file of files) {
      const name = file.slice(0, -'.ts'.length);
      if (!ENVIRONMENT_NAME.test(name)) {
        throw new ConfigError([{ path: `config/environments/${file}`, message: `"${name}" is not an environment name (lower-case letters, digits, "-", at most 32)` }]);
      }
      environments.push({ name, overrides: await importExport(snapshot, `environments/${file}`, 'overrides') });
    }
    return { defaults, environments };
  } finally {
    await rm(snapshot, { recursive: true, force: true });
  }
}

/** One environment's config from `<root>/config`, validated with all the others. */
export async function environmentConfig(root: string, environment: string): Promise<StackConfig> {
  const resolved = resolveConfig(await readConfig(join(root, 'config')));
  const env = resolved.environments.find((candidate) => candidate.name === environment);
  if (!env) throw new Error(`no environment "${environment}": expected config/environments/${environment}.ts`);
  return env.config;
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
    issues.push(...mergedIssues, ...(mergedIssues.length === 0 ? environmentIssues(overrides, merged as StackConfig, name) : []));
    return { name, config: merged as StackConfig };
  });
  if (issues.length > 0) throw new ConfigError(issues);
  return { defaults: raw.defaults as StackConfig, environments };
}
