/**
 * Offline validation of Kubernetes objects against the Kubernetes OpenAPI schemas:
 * - kubernetes-models' bundled validators check required fields, types, enums and formats;
 * - @kubernetes/client-node's models (generated from the same OpenAPI) list every field of every
 *   type, which catches misspelled fields the validators let through.
 * Both load per kind on first use, so the compile pays only for the kinds it emits.
 */
type Validator = { validate(): void };
type ModelClass = new (data: unknown) => Validator;

const MODELS: Record<string, () => Promise<ModelClass>> = {
  'v1/Namespace': async () => (await import('kubernetes-models/v1/Namespace')).Namespace as ModelClass,
  'v1/ConfigMap': async () => (await import('kubernetes-models/v1/ConfigMap')).ConfigMap as ModelClass,
  'v1/Secret': async () => (await import('kubernetes-models/v1/Secret')).Secret as ModelClass,
  'v1/Service': async () => (await import('kubernetes-models/v1/Service')).Service as ModelClass,
  'v1/PersistentVolume': async () => (await import('kubernetes-models/v1/PersistentVolume')).PersistentVolume as ModelClass,
  'v1/PersistentVolumeClaim': async () => (await import('kubernetes-models/v1/PersistentVolumeClaim')).PersistentVolumeClaim as ModelClass,
  'apps/v1/DaemonSet': async () => (await import('kubernetes-models/apps/v1/DaemonSet')).DaemonSet as ModelClass,
  'apps/v1/Deployment': async () => (await import('kubernetes-models/apps/v1/Deployment')).Deployment as ModelClass,
  'networking.k8s.io/v1/NetworkPolicy': async () =>
    (await import('kubernetes-models/networking.k8s.io/v1/NetworkPolicy')).NetworkPolicy as ModelClass,
  'source.toolkit.fluxcd.io/v1/GitRepository': async () =>
    (await import('@kubernetes-models/flux-cd/source.toolkit.fluxcd.io/v1/GitRepository')).GitRepository as ModelClass,
  'kustomize.toolkit.fluxcd.io/v1/Kustomization': async () =>
    (await import('@kubernetes-models/flux-cd/kustomize.toolkit.fluxcd.io/v1/Kustomization')).Kustomization as ModelClass,
  'argoproj.io/v1alpha1/AppProject': async () => (await import('@kubernetes-models/argo-cd/argoproj.io/v1alpha1/AppProject')).AppProject as ModelClass,
  'argoproj.io/v1alpha1/Application': async () => (await import('@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application')).Application as ModelClass,
};

export interface KubeObject {
  apiVersion?: unknown;
  kind?: unknown;
  metadata?: { name?: unknown };
  [field: string]: unknown;
}

/**
 * What a schema sees of an object: an encrypted Secret without its top-level `sops` block (SOPS
 * metadata, which no Kubernetes schema knows and kubectl never sends), anything else as it is.
 */
export function schemaInputOf(object: KubeObject): KubeObject {
  if (object.kind !== 'Secret' || !('sops' in object)) return object;
  const { sops, ...withoutSops } = object;
  void sops;
  return withoutSops;
}

export function describeObject(object: KubeObject): string {
  return `${String(object.kind)}/${String(object.metadata?.name)}`;
}

/** Schema problems of one object; an unknown kind is a problem too (we validate what we ship). */
export async function schemaProblems(object: KubeObject): Promise<string[]> {
  const load = MODELS[`${String(object.apiVersion)}/${String(object.kind)}`];
  if (!load) return [`${describeObject(object)}: no schema for ${String(object.apiVersion)} ${String(object.kind)}`];
  const Model = await load();
  try {
    new Model(object).validate();
    return [];
  } catch (error) {
    return String((error as Error).message)
      .split('\n')
      .map((line) => `${describeObject(object)}: ${line.replace(/^data\//, '')}`);
  }
}

interface Attribute {
  name: string;
  baseName: string;
  type: string;
}
type ClientModel = { getAttributeTypeMap(): Attribute[] };

/** Field names on the wire of the client's model named `type`, with their types. */
function attributes(models: Record<string, unknown>, type: string): Map<string, string> | undefined {
  const model = models[type] as ClientModel | undefined;
  if (typeof model?.getAttributeTypeMap !== 'function') return undefined;
  return new Map(model.getAttributeTypeMap().map((attribute) => [attribute.baseName, attribute.type]));
}

function unknownFieldsOf(models: Record<string, unknown>, value: unknown, type: string, path: string, out: string[]): void {
  if (value === null || typeof value !== 'object') return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) value.forEach((item, index) => unknownFieldsOf(models, item, array[1]!, `${path}/${index}`, out));
    return;
  }
  const fields = attributes(models, type);
  if (!fields) return; // maps, quantities, int-or-string and free-form objects
  for (const [key, item] of Object.entries(value)) {
    const fieldType = fields.get(key);
    if (fieldType === undefined) out.push(`${path}/${key}: unknown field (not in ${type})`);
    else unknownFieldsOf(models, item, fieldType, `${path}/${key}`, out);
  }
}

/** Fields no schema knows, e.g. a misspelled `imagePullPolicyy`. Loads the client's models. */
export async function unknownFieldProblems(object: KubeObject): Promise<string[]> {
  const models = (await import('@kubernetes/client-node')) as unknown as Record<string, unknown>;
  const [group, version] = String(object.apiVersion).includes('/') ? String(object.apiVersion).split('/') : ['', String(object.apiVersion)];
  const groupName = (group ?? '').split('.')[0] ?? '';
  const typeName = `${version!.charAt(0).toUpperCase()}${version!.slice(1)}${String(object.kind)}`;
  const problems: string[] = [];
  if (!attributes(models, typeName)) return [`${describeObject(object)}: no model for ${String(object.apiVersion)} ${String(object.kind)} (${groupName})`];
  unknownFieldsOf(models, object, typeName, '', problems);
  return problems.map((problem) => `${describeObject(object)}: ${problem.slice(1)}`);
}
