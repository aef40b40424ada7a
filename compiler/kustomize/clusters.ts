/**
 * clusters/<env>/: the GitOps engine's objects for each environment, one per file, with a
 * kustomization so `kubectl apply -k clusters/<env>` installs them after the bootstrap.
 */
import type { GitOpsObject } from '../gitops/index.ts';
import { generatedYaml } from '../render/yaml.ts';
import { kustomization, objectFileName, type FileTree } from './base.ts';

export function clustersTree(environment: string, objects: readonly GitOpsObject[]): FileTree {
  const tree: FileTree = new Map();
  const files = objects.map((object) => objectFileName(object));
  objects.forEach((object, index) => tree.set(`clusters/${environment}/${files[index]}`, generatedYaml(object)));
  tree.set(`clusters/${environment}/kustomization.yaml`, generatedYaml(kustomization({ resources: [...files].sort() })));
  return tree;
}
