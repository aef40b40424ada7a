/**
 * `npm run validate [-- --root <dir>]`: builds base/ and every overlay with the pinned
 * kustomize and validates every resulting object offline: the Kubernetes schemas (required
 * fields, types, enums), unknown (misspelled) fields, and the repository's rules.
 * Encrypted Secrets are checked with their `sops` block set aside, as kubeconform does.
 */
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { kustomizeBuild } from '../kustomize/build.ts';
import { schemaProblems, unknownFieldProblems, type KubeObject } from '../kube/schema.ts';
import { ruleProblems } from '../kube/rules.ts';

const { values } = parseArgs({ options: { root: { type: 'string' } } });
const root = resolve(values.root ?? '.');

async function problemsOf(object: KubeObject): Promise<string[]> {
  const { sops, ...withoutSops } = object;
  const schemaInput = object.kind === 'Secret' && sops ? withoutSops : object;
  return [...(await schemaProblems(schemaInput)), ...(await unknownFieldProblems(schemaInput)), ...ruleProblems(object)];
}

const targets = ['base', ...(await readdir(join(root, 'overlays'))).sort().map((env) => `overlays/${env}`)];
let failures = 0;
for (const target of targets) {
  const started = performance.now();
  const objects = await kustomizeBuild(join(root, target));
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
