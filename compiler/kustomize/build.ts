/**
 * `kustomize build` with the pinned kustomize, parsed into objects.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { tool } from '../tools.ts';
import { parseYamlDocuments, toYaml } from '../render/yaml.ts';
import type { KubeObject } from '../kube/schema.ts';

const run = promisify(execFile);

export async function kustomizeBuild(dir: string): Promise<KubeObject[]> {
  const { stdout } = await run(await tool('kustomize'), ['build', dir], { maxBuffer: 64 * 1024 * 1024 });
  return parseYamlDocuments(stdout, dir).filter((doc): doc is KubeObject => doc !== null && typeof doc === 'object');
}

interface KustomizationFile {
  resources?: string[];
  generators?: string[];
}

/**
 * Builds an overlay whose Secrets come through KSOPS (the Argo CD form) without KSOPS and
 * without keys: a copy of the overlay lists the generator's files as resources, so the
 * encrypted Secrets are built as they are. Other overlays build as they are.
 */
export async function kustomizeBuildEncrypted(dir: string): Promise<KubeObject[]> {
  const kustomization = parseYamlDocuments(await readFile(join(dir, 'kustomization.yaml'), 'utf8'), dir)[0] as KustomizationFile;
  if (!kustomization.generators?.length) return kustomizeBuild(dir);
  // A sibling of the overlay, so its relative references (../../base) still resolve.
  const copy = await mkdtemp(join(dirname(resolve(dir)), '.build-'));
  try {
    await cp(dir, copy, { recursive: true });
    const files: string[] = [];
    for (const generator of kustomization.generators) {
      const [ksops] = parseYamlDocuments(await readFile(join(dir, generator), 'utf8'), generator) as [{ kind?: string; files?: string[] }];
      if (ksops.kind !== 'ksops') throw new Error(`${dir}: generator ${generator} is not a KSOPS generator`);
      files.push(...(ksops.files ?? []));
    }
    const { generators, ...rest } = kustomization;
    void generators;
    await writeFile(join(copy, 'kustomization.yaml'), toYaml({ ...rest, resources: [...(kustomization.resources ?? []), ...files] }));
    return await kustomizeBuild(copy);
  } finally {
    await rm(copy, { recursive: true, force: true });
  }
}
