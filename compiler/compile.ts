/**
 * The compile: config/ (+ lua/ + each environment's encrypted Secrets) → base/ and
 * overlays/<env>/. Everything is built and checked in memory first; only a compile without a
 * single problem writes, and it writes all at once (render/write.ts).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Issue } from './config/checks.ts';
import { ConfigError, readConfig, resolveConfig, type ResolvedConfig } from './config/load.ts';
import type { BuildInputs } from './inputs.ts';
import type { Manifest } from './kube/objects.ts';
import { schemaProblems, type KubeObject } from './kube/schema.ts';
import { ruleProblems } from './kube/rules.ts';
import { buildStack } from './stack.ts';
import { crossCheck } from './crosscheck.ts';
import { checkSecretKeys, readEncryptedSecrets } from './secrets/files.ts';
import { secretId } from './secrets/credentials.ts';
import { baseTree, type FileTree } from './kustomize/base.ts';
import { overlayTree, type EnvironmentBuild } from './kustomize/overlay.ts';
import { writeTree, type WriteReport } from './render/write.ts';
import { gitopsObjects, type GitOpsObject } from './gitops/index.ts';
import { clustersTree } from './kustomize/clusters.ts';
import { DEFAULTS } from './config/load.ts';

export interface CompileOptions {
  /** The repository root: lua/ is read and base/, overlays/ are written here. */
  root: string;
  /** The config directory; config/ under the root unless given. */
  configDir?: string;
}

export interface Compiled {
  config: ResolvedConfig;
  base: Manifest[];
  environments: EnvironmentBuild[];
  tree: FileTree;
}

/** Every .lua file under lua/, by its path relative to lua/. */
export async function readLua(root: string): Promise<Map<string, string>> {
  const lua = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(join(root, 'lua', dir), { withFileTypes: true }).catch(() => [])) {
      const path = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(path);
      else if (entry.name.endsWith('.lua')) lua.set(path, await readFile(join(root, 'lua', path), 'utf8'));
    }
  };
  await walk('');
  return lua;
}

async function objectProblems(objects: readonly (Manifest | GitOpsObject)[], at: string): Promise<Issue[]> {
  const problems = await Promise.all(
    objects.map(async (object) => {
      const plain = object as unknown as KubeObject;
      return [...(await schemaProblems(plain)), ...ruleProblems(plain)];
    }),
  );
  return problems.flat().map((message) => ({ path: `${at}.objects`, message }));
}

/** Environments whose config file is gone but whose encrypted Secrets are still there. */
async function orphanedSecrets(root: string, names: readonly string[]): Promise<Issue[]> {
  const dirs = await readdir(join(root, 'overlays')).catch(() => [] as string[]);
  const orphans = [];
  for (const dir of dirs) {
    if (names.includes(dir)) continue;
    if (await readdir(join(root, 'overlays', dir, 'secrets')).then(() => true, () => false)) orphans.push(dir);
  }
  return orphans.map((dir) => ({
    path: dir,
    message: `overlays/${dir}/secrets holds encrypted Secrets but config/environments/${dir}.ts does not exist: restore the file, or delete the Secrets on purpose`,
  }));
}

/** Builds and checks everything in memory; throws ConfigError listing every problem. */
export async function build(options: CompileOptions): Promise<Compiled> {
  const { root } = options;
  const config = resolveConfig(await readConfig(options.configDir ?? join(root, 'config')));
  const lua = await readLua(root);
  const baseInputs: BuildInputs = { lua, secrets: new Map() };
  const base = buildStack(config.defaults, baseInputs);
  const issues: Issue[] = [
    ...crossCheck(base, config.defaults, DEFAULTS),
    ...(await objectProblems(base, DEFAULTS)),
    ...(await orphanedSecrets(root, config.environments.map((env) => env.name))),
  ];
  const environments: EnvironmentBuild[] = [];
  for (const { name, config: envConfig } of config.environments) {
    const { secrets, issues: fileIssues } = await readEncryptedSecrets(root, name);
    const inputs: BuildInputs = { lua, secrets: new Map(secrets.map((secret) => [secretId(secret), secret])) };
    const objects = buildStack(envConfig, inputs);
    issues.push(
      ...fileIssues,
      ...checkSecretKeys(envConfig, name, secrets),
      ...crossCheck(objects, envConfig, name),
      ...(await objectProblems(objects, name)),
    );
    const gitops = gitopsObjects(name, envConfig);
    issues.push(...(await objectProblems(gitops, name)));
    environments.push({ name, config: envConfig, objects, secrets, gitops });
  }
  if (issues.length > 0) throw new ConfigError(issues);

  const tree: FileTree = baseTree(base);
  for (const env of environments) {
    for (const [path, content] of overlayTree({ config: config.defaults, objects: base }, env)) tree.set(path, content);
    for (const [path, content] of clustersTree(env.name, env.gitops)) tree.set(path, content);
  }
  return { config, base, environments, tree };
}

export async function compile(options: CompileOptions): Promise<{ compiled: Compiled; report: WriteReport }> {
  const compiled = await build(options);
  const report = await writeTree(options.root, compiled.tree);
  return { compiled, report };
}
