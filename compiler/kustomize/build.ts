/**
 * `kustomize build` with the pinned kustomize, parsed into objects.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tool } from '../tools.ts';
import { parseYamlDocuments } from '../render/yaml.ts';
import type { KubeObject } from '../kube/schema.ts';

const run = promisify(execFile);

export async function kustomizeBuild(dir: string): Promise<KubeObject[]> {
  const { stdout } = await run(await tool('kustomize'), ['build', dir], { maxBuffer: 64 * 1024 * 1024 });
  return parseYamlDocuments(stdout, dir).filter((doc): doc is KubeObject => doc !== null && typeof doc === 'object');
}
