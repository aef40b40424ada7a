/**
 * `npm run -s build -- <dir> [--schema-input]`: the objects the pinned kustomize builds from a
 * kustomization folder (base/, overlays/<env>, clusters/<env>), as one YAML stream on stdout.
 * With --schema-input every object is printed as a schema validator must see it: encrypted
 * Secrets without their `sops` block, so that CI's `kubeconform -strict` checks them too
 * instead of skipping every Secret.
 */
import { parseArgs } from 'node:util';
import { kustomizeBuild } from '../kustomize/build.ts';
import { schemaInputOf } from '../kube/schema.ts';
import { toYaml } from '../render/yaml.ts';

const { values, positionals } = parseArgs({ options: { 'schema-input': { type: 'boolean', default: false } }, allowPositionals: true });
if (positionals.length !== 1) {
  console.error('usage: npm run -s build -- <kustomization dir> [--schema-input]');
  process.exit(2);
}

async function main(): Promise<void> {
  const objects = await kustomizeBuild(positionals[0]!);
  const printed = values['schema-input'] ? objects.map(schemaInputOf) : objects;
  process.stdout.write(printed.map((object) => toYaml(object)).join('---\n'));
}

main().catch((error: unknown) => {
  console.error(`build: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
});
