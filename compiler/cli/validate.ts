/**
 * `npm run validate [-- --root <dir>]`: builds base/, every overlay and every clusters/<env>
 * with the pinned kustomize and validates every resulting object offline: the Kubernetes, Flux
 * and Argo CD schemas (required fields, types, enums), unknown (misspelled) fields of core
 * kinds, and the repository's rules. Encrypted Secrets are checked with their `sops` block set
 * aside, as kubeconform does. An overlay whose images are referenced by tag only gets a warning
 * per image (not a failure).
 *
 * `--server` then asks the cluster of the current kubeconfig (`--kubeconfig`, `--context`) too:
 * a server-side apply dry run of every overlay and clusters/<env> (nothing is stored). Secrets go
 * with their `sops` block set aside (their values stay encrypted: the server judges the shape);
 * the server's Pod Security and deprecation warnings are printed.
 */
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { kubeConfigFrom, serverSideApply, type ApplyResult } from '../kube/apply.ts';
import { kustomizeBuild } from '../kustomize/build.ts';
import { schemaInputOf, schemaProblems, unknownFieldProblems, type KubeObject } from '../kube/schema.ts';
import { ruleProblems } from '../kube/rules.ts';

const { values } = parseArgs({
  options: { root: { type: 'string' }, server: { type: 'boolean' }, kubeconfig: { type: 'string' }, context: { type: 'string' } },
});
const root = resolve(values.root ?? '.');

/** Kinds whose every field the client's models list (custom resources rely on their schemas alone). */
const CORE_API = /^(v1|apps\/v1|networking\.k8s\.io\/v1)$/;

async function problemsOf(object: KubeObject): Promise<string[]> {
  const schemaInput = schemaInputOf(object);
  const unknown = CORE_API.test(String(object.apiVersion)) ? await unknownFieldProblems(schemaInput) : [];
  return [...(await schemaProblems(schemaInput)), ...unknown, ...ruleProblems(object)];
}

/** The images a target's pods run that are referenced by tag only (what the cluster pulls can change under the tag). */
function imagesWithoutDigest(objects: readonly KubeObject[]): string[] {
  const images = new Set<string>();
  for (const object of objects) {
    const pod = (object['spec'] as { template?: { spec?: { containers?: { image?: string }[]; initContainers?: { image?: string }[] } } } | undefined)?.template?.spec;
    for (const container of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])]) {
      if (container.image && !container.image.includes('@sha256:')) images.add(container.image);
    }
  }
  return [...images].sort();
}

/** The dry run's lines for one target, and how many objects the server refused. */
function serverReport(target: string, results: readonly ApplyResult[], seconds: string): { lines: string[]; refused: number } {
  const refused = results.filter((r) => r.status === 'refused');
  const skipped = results.filter((r) => r.status === 'skipped');
  const head = `${refused.length === 0 ? 'ok  ' : 'FAIL'} ${target} (server dry run): ${results.length - refused.length - skipped.length} accepted, ${skipped.length} not judged, ${refused.length} refused in ${seconds}s`;
  const lines = [head];
  for (const result of results) {
    if (result.status === 'refused' || result.status === 'skipped') lines.push(`     ${result.status === 'refused' ? 'refused' : 'not judged'}: ${result.object}: ${result.message}`);
    for (const warning of result.warnings) lines.push(`     warning: ${result.object}: ${warning}`);
  }
  return { lines, refused: refused.length };
}

async function main(): Promise<void> {
  const environments = (await readdir(join(root, 'overlays'))).sort();
  const targets = ['base', ...environments.map((env) => `overlays/${env}`), ...environments.map((env) => `clusters/${env}`)];
  let failures = 0;
  for (const target of targets) {
    const started = performance.now();
    const objects = await kustomizeBuild(join(root, target));
    const problems = (await Promise.all(objects.map(problemsOf))).flat();
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    console.log(`${problems.length === 0 ? 'ok  ' : 'FAIL'} ${target}: ${objects.length} objects in ${seconds}s`);
    for (const problem of problems) console.log(`     ${problem}`);
    if (target.startsWith('overlays/')) {
      for (const image of imagesWithoutDigest(objects)) {
        console.log(`     warning: ${image} has no digest: the cluster runs whatever the tag points to when it pulls (the images workflow's pull request pins tag@digest; by hand: npm run bump-image -- <component> <tag>@sha256:<digest>)`);
      }
    }
    failures += problems.length;
  }

  if (values.server) {
    const kc = kubeConfigFrom(values);
    console.log(`server: ${kc.getCurrentCluster()?.server ?? '(none)'} (context ${kc.getCurrentContext()})`);
    for (const target of targets.filter((t) => t !== 'base')) {
      const started = performance.now();
      const objects = (await kustomizeBuild(join(root, target))).map(schemaInputOf);
      const results = await serverSideApply(kc, objects, { dryRun: true });
      const { lines, refused } = serverReport(target, results, ((performance.now() - started) / 1000).toFixed(2));
      for (const line of lines) console.log(line);
      failures += refused;
    }
  }

  if (failures > 0) {
    console.error(`validate: ${failures} problem(s)`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(`validate: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
});
