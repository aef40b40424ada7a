/**
 * The compile: config/ (+ lua/ + each environment's encrypted Secrets) → base/ and
 * overlays/<env>/. Everything is built and checked in memory first; only a compile without a
 * single problem writes, and it writes all at once (render/write.ts).
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Issue } from './config/checks.ts';
import { ConfigError, readConfig, resolveConfig, type ResolvedConfig } from './config/load.ts';
import { entriesOf, type BuildInputs } from './inputs.ts';
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
export function readLua(root: string): Map<string, string> {
  const lua = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of entriesOf(join(root, 'lua', dir))) {
      const path = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.lua')) lua.set(path, readFileSync(join(root, 'lua', path), 'utf8'));
    }
  };
  walk('');
  return lua;
}

/** An object's problems by its JSON: most of an environment's objects are the base's, and each is checked once. */
type ProblemsSeen = Map<string, Promise<string[]>>;

async function objectProblems(objects: readonly (Manifest | GitOpsObject)[], at: string, seen: ProblemsSeen): Promise<Issue[]> {
  const problemsOf = async (plain: KubeObject) => [...(await schemaProblems(plain)), ...ruleProblems(plain)];
  const problems = await Promise.all(
    objects.map((object) => {
      const json = JSON.stringify(object);
      if (!seen.has(json)) seen.set(json, problemsOf(object as unknown as KubeObject));
      return seen.get(json)!;
    }),
  );
  return problems.flat().map((message) => ({ path: `${at}.objects`, message }));
}

/** Environments whose config file is gone but whose encrypted Secrets are still there. */
function orphanedSecrets(root: string, names: readonly string[]): Issue[] {
  const orphans = [];
  for (const { name: dir } of entriesOf(join(root, 'overlays'))) {
    if (names.includes(dir)) continue;
    if (statSync(join(root, 'overlays', dir, 'secrets'), { throwIfNoEntry: false })?.isDirectory()) orphans.push(dir);
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
  const lua = readLua(root);
  const baseInputs: BuildInputs = { lua, secrets: new Map() };
  const base = buildStack(config.defaults, baseInputs);
  const seen: ProblemsSeen = new Map();
  const issues: Issue[] = [
    ...crossCheck(base, config.defaults, DEFAULTS),
    ...(await objectProblems(base, DEFAULTS, seen)),
    ...orphanedSecrets(root, config.environments.map((env) => env.name)),
  ];
  const environments: EnvironmentBuild[] = [];
  for (const { name, config: envConfig } of config.environments) {
    const { secrets, issues: fileIssues } = readEncryptedSecrets(root, name);
    const inputs: BuildInputs = { lua, secrets: new Map(secrets.map((secret) => [secretId(secret), secret])) };
    const objects = buildStack(envConfig, inputs);
    issues.push(
      ...fileIssues,
      ...checkSecretKeys(envConfig, name, secrets),
      ...crossCheck(objects, envConfig, name),
      ...(await objectProblems(objects, name, seen)),
    );
    const gitops = gitopsObjects(name, envConfig);
    issues.push(...(await objectProblems(gitops, name, seen)));
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
