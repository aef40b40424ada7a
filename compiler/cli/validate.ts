/**
 * `npm run validate [-- --root <dir>]`: builds base/, every overlay and every clusters/<env>
 * with the pinned kustomize and validates every resulting object offline: the Kubernetes, Flux
 * and Argo CD schemas (required fields, types, enums), unknown (misspelled) fields of core
 * kinds, and the repository's rules. Encrypted Secrets are checked with their `sops` block set
 * aside, as kubeconform does; an Argo CD overlay's KSOPS Secrets are built encrypted.
 */
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { kustomizeBuildEncrypted } from '../kustomize/build.ts';
import { schemaInputOf, schemaProblems, unknownFieldProblems, type KubeObject } from '../kube/schema.ts';
import { ruleProblems } from '../kube/rules.ts';

const { values } = parseArgs({ options: { root: { type: 'string' } } });
const root = resolve(values.root ?? '.');

/** Kinds whose every field the client's models list (custom resources rely on their schemas alone). */
const CORE_API = /^(v1|apps\/v1|networking\.k8s\.io\/v1)$/;

async function problemsOf(object: KubeObject): Promise<string[]> {
  const schemaInput = schemaInputOf(object);
  const unknown = CORE_API.test(String(object.apiVersion)) ? await unknownFieldProblems(schemaInput) : [];
  return [...(await schemaProblems(schemaInput)), ...unknown, ...ruleProblems(object)];
}

const environments = (await readdir(join(root, 'overlays'))).sort();
const targets = ['base', ...environments.map((env) => `overlays/${env}`), ...environments.map((env) => `clusters/${env}`)];
let failures = 0;
for (const target of targets) {
  const started = performance.now();
  const objects = await kustomizeBuildEncrypted(join(root, target));
  const problems = (await Promise.all(objects.map(problemsOf))).flat();
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  console.log(`${problems.length === 0 ? 'ok  ' : 'FAIL'} ${target}: ${objects.length} objects in ${seconds}s`);
  for (const problem of problems) console.log(`     ${problem}`);
  failures += problems.length;
}
if (failures > 0) {
  console.error(`validate: ${failures} problem(s)`);
  process.exitCode = 1;
}
