/**
 * base/: one file per object, named `<kind>-<name>.yaml`, and a kustomization listing them.
 */
import type { Manifest } from '../kube/objects.ts';
import { generatedYaml } from '../render/yaml.ts';

/** Output files by path relative to the output root, e.g. "base/daemonset-collector.yaml". */
export type FileTree = Map<string, string>;

export function objectFileName(object: { kind: string; metadata: { name: string } }): string {
  return `${object.kind.toLowerCase()}-${object.metadata.name}.yaml`;
}

/** Object keys in the order people read them: apiVersion, kind, metadata, then the rest. */
export function orderedObject(object: Manifest): Manifest {
  const { apiVersion, kind, metadata, ...rest } = object;
  return { apiVersion, kind, metadata, ...rest } as Manifest;
}

export function kustomization(fields: Record<string, unknown>) {
  return { apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', ...fields };
}

export function baseTree(objects: readonly Manifest[]): FileTree {
  const tree: FileTree = new Map();
  const names = objects.map(objectFileName);
  const duplicate = names.find((name, index) => names.indexOf(name) !== index);
  if (duplicate) throw new Error(`two objects would be written to base/${duplicate}`);
  objects.forEach((object, index) => tree.set(`base/${names[index]}`, generatedYaml(orderedObject(object))));
  tree.set('base/kustomization.yaml', generatedYaml(kustomization({ resources: [...names].sort() })));
  return tree;
}
