/**
 * overlays/<env>/: a real kustomize overlay on base/. It says only what differs:
 * - `images` and an environment label through kustomize's transformers (every object, the
 *   encrypted Secrets included, names its own namespace: the stack has two);
 * - every other difference as a JSON 6902 patch per object (patches/<kind>-<name>.yaml);
 * - objects only this environment has as resources, objects it lacks as delete patches;
 * - the environment's SOPS-encrypted Secrets (secrets/, written by `npm run secrets`, never by
 *   the compiler), as resources: Flux decrypts them itself, Argo CD through the config management
 *   plugin of clusters/<env>/ (compiler/gitops/), which decrypts them before kustomize builds.
 * The test suite builds every overlay with the real kustomize and compares the result with the
 * environment's objects compiled directly, so overlay and config cannot disagree.
 */
import fastJsonPatch from 'fast-json-patch';
import type { ImageName, StackConfig } from '../config/types.ts';
import type { EncryptedSecret } from '../inputs.ts';
import { LABELS } from '../facts.ts';
import { imageReference, type Manifest } from '../kube/objects.ts';
import { generatedYaml } from '../render/yaml.ts';
import { kustomization, objectFileName, orderedObject, type FileTree } from './base.ts';
import type { GitOpsObject } from '../gitops/index.ts';
import { byCodeUnit } from '../render/order.ts';

const { compare } = fastJsonPatch;

export const SECRETS_DIR = 'secrets';

export interface EnvironmentBuild {
  name: string;
  config: StackConfig;
  objects: readonly Manifest[];
  secrets: readonly EncryptedSecret[];
  /** clusters/<env>/: the GitOps engine's objects. */
  gitops: readonly GitOpsObject[];
}

export interface BaseBuild {
  config: StackConfig;
  objects: readonly Manifest[];
}

const identity = (object: Manifest) => `${object.kind}/${object.metadata.name}`;

function apiGroupVersion(apiVersion: string): { group?: string; version: string } {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : [undefined, apiVersion];
  return group ? { group, version: version! } : { version: version! };
}

/** The labels every object of the environment gets on top of base. */
export function environmentLabels(name: string): Record<string, string> {
  return { [LABELS.environment]: name };
}

/** kustomize `images` entries for the images whose reference differs from base. */
function imageOverrides(base: StackConfig, env: StackConfig) {
  return (Object.keys(env.images) as ImageName[])
    .filter((name) => imageReference(base.images[name]) !== imageReference(env.images[name]))
    .map((name) => {
      const [from, to] = [base.images[name], env.images[name]];
      return {
        name: from.repository,
        ...(to.repository !== from.repository && { newName: to.repository }),
        ...(to.digest ? { digest: to.digest } : { newTag: to.tag }),
      };
    });
}

/**
 * An environment's object as it must look before the overlay's transformers run: what `images`
 * will set is put back to base's values, so the patch leaves it alone.
 */
function beforeTransformers(object: Manifest, base: StackConfig, env: StackConfig): Manifest {
  const copy = structuredClone(object);
  if (copy.kind === 'DaemonSet' || copy.kind === 'Deployment') {
    const pod = copy.spec?.template.spec;
    for (const container of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])]) {
      const name = (Object.keys(env.images) as ImageName[]).find((image) => container.image === imageReference(env.images[image]));
      if (name) container.image = imageReference(base.images[name]);
    }
  }
  return copy;
}

function patchEntry(object: Manifest, path: string) {
  return { path, target: { ...apiGroupVersion(object.apiVersion), kind: object.kind, name: object.metadata.name } };
}

export function overlayTree(base: BaseBuild, env: EnvironmentBuild): FileTree {
  const dir = `overlays/${env.name}`;
  const tree: FileTree = new Map();
  const baseObjects = new Map(base.objects.map((object) => [identity(object), object]));
  const envObjects = new Map(env.objects.map((object) => [identity(object), object]));
  const resources: string[] = ['../../base'];
  const patches: ReturnType<typeof patchEntry>[] = [];

  for (const [id, object] of envObjects) {
    const original = baseObjects.get(id);
    if (!original) {
      const file = objectFileName(object);
      tree.set(`${dir}/${file}`, generatedYaml(orderedObject(object)));
      resources.push(file);
      continue;
    }
    const operations = compare(original, beforeTransformers(object, base.config, env.config));
    if (operations.length === 0) continue;
    const file = `patches/${objectFileName(object)}`;
    tree.set(`${dir}/${file}`, generatedYaml(operations));
    patches.push(patchEntry(object, file));
  }
  for (const [id, object] of baseObjects) {
    if (envObjects.has(id)) continue;
    const file = `patches/delete-${objectFileName(object)}`;
    const deletion = { $patch: 'delete', apiVersion: object.apiVersion, kind: object.kind, metadata: { name: object.metadata.name } };
    tree.set(`${dir}/${file}`, generatedYaml(deletion));
    patches.push(patchEntry(object, file));
  }
  resources.push(...env.secrets.map((secret) => secret.file));

  const images = imageOverrides(base.config, env.config);
  tree.set(
    `${dir}/kustomization.yaml`,
    generatedYaml(
      kustomization({
        resources: [resources[0], ...resources.slice(1).sort()],
        labels: [{ pairs: environmentLabels(env.name), includeSelectors: false, includeTemplates: true }],
        ...(images.length > 0 && { images }),
        ...(patches.length > 0 && { patches: patches.sort((a, b) => byCodeUnit(a.path, b.path)) }),
      }),
    ),
  );
  return tree;
}
