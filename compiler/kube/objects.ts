/**
 * The Kubernetes objects the compiler emits, typed with @kubernetes/client-node's models (types
 * only: nothing of the client is loaded at run time), plus the few helpers every component uses.
 */
import type {
  V1ConfigMap,
  V1DaemonSet,
  V1Deployment,
  V1Namespace,
  V1NetworkPolicy,
  V1NetworkPolicyIngressRule,
  V1NetworkPolicyPeer,
  V1NetworkPolicySpec,
  V1ObjectMeta,
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1Service,
  V1Container,
  V1EnvVar,
  V1Probe,
  V1ResourceRequirements,
} from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import type { ImageRef, Resources, StackConfig } from '../config/types.ts';
import { ANNOTATIONS, LABELS, MANAGED_BY, PART_OF } from '../facts.ts';

type Named<T> = Omit<T, 'apiVersion' | 'kind' | 'metadata'> & {
  metadata: V1ObjectMeta & { name: string };
};

/**
 * client-node renames fields that are reserved words in TypeScript (`_from` for `from`); the
 * objects here are written as they go on the wire, so those fields get their real names back.
 */
type WireIngressRule = Omit<V1NetworkPolicyIngressRule, '_from'> & { from?: V1NetworkPolicyPeer[] };
type WireNetworkPolicy = Omit<V1NetworkPolicy, 'spec'> & {
  spec: Omit<V1NetworkPolicySpec, 'ingress'> & { ingress?: WireIngressRule[] };
};

/** Every kind the compiler emits, with apiVersion and kind fixed so a typo cannot compile. */
export type Manifest =
  | (Named<V1Namespace> & { apiVersion: 'v1'; kind: 'Namespace' })
  | (Named<V1ConfigMap> & { apiVersion: 'v1'; kind: 'ConfigMap' })
  | (Named<V1Service> & { apiVersion: 'v1'; kind: 'Service' })
  | (Named<V1PersistentVolume> & { apiVersion: 'v1'; kind: 'PersistentVolume' })
  | (Named<V1PersistentVolumeClaim> & { apiVersion: 'v1'; kind: 'PersistentVolumeClaim' })
  | (Named<V1DaemonSet> & { apiVersion: 'apps/v1'; kind: 'DaemonSet' })
  | (Named<V1Deployment> & { apiVersion: 'apps/v1'; kind: 'Deployment' })
  | (Named<WireNetworkPolicy> & { apiVersion: 'networking.k8s.io/v1'; kind: 'NetworkPolicy' });

export type Kind = Manifest['kind'];

/** The stack's components; each has its objects in one namespace. */
export type Component = 'collector' | 'influxdb' | 'grafana';

/** The collector's own namespace allows what it needs of the host; the others enforce `restricted`. */
export function componentNamespace(config: StackConfig, component: Component): string {
  return component === 'collector' ? config.namespaces.collector : config.namespaces.backend;
}

/** Metadata of a namespaced object of one component of the stack. */
export function metadata(config: StackConfig, name: string, component: Component): Manifest['metadata'] {
  return { name, namespace: componentNamespace(config, component), labels: componentLabels(config, component) };
}

/** Metadata of a cluster-scoped object of one component (a PersistentVolume). */
export function clusterMetadata(config: StackConfig, name: string, component: Component): Manifest['metadata'] {
  return { name, labels: componentLabels(config, component) };
}

/** Every label of a component's objects: the config's, the selector's, and managed-by. */
export function componentLabels(config: StackConfig, component: string): Record<string, string> {
  return { ...config.labels, ...nameAndPartOfLabels(component), [LABELS.managedBy]: MANAGED_BY };
}

/**
 * app.kubernetes.io/name (the component) and app.kubernetes.io/part-of: what a workload's
 * selector and the NetworkPolicies match. Stable for the life of the object (selectors are immutable).
 */
export function nameAndPartOfLabels(component: string): Record<string, string> {
  return { [LABELS.name]: component, [LABELS.partOf]: PART_OF };
}

/** With a digest the reference is `repository@digest`: the digest alone picks the content (kustomize writes it so too). */
export function imageReference(image: ImageRef): string {
  return image.digest ? `${image.repository}@${image.digest}` : `${image.repository}:${image.tag}`;
}

export function resourceRequirements(resources: Resources): V1ResourceRequirements {
  const limits: Record<string, string> = { memory: resources.limits.memory };
  if (resources.limits.cpu) limits.cpu = resources.limits.cpu;
  return { requests: { ...resources.requests }, limits };
}

/** An environment variable read from a Secret key: passwords never appear as literals. */
export function secretEnv(name: string, secret: string, key: string): V1EnvVar {
  return { name, valueFrom: { secretKeyRef: { name: secret, key } } };
}

export function literalEnv(name: string, value: string | number): V1EnvVar {
  return { name, value: String(value) };
}

/** Probe timings shared by every container: generous enough for a loaded node. */
export function probe(action: Pick<V1Probe, 'exec' | 'httpGet' | 'tcpSocket'>, initialDelaySeconds: number): V1Probe {
  return { ...action, initialDelaySeconds, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 3 };
}

/**
 * Gives a slow start up to `seconds` (probed every 10 s) before liveness counts: a restart that
 * opens a large data directory is not killed for being slow.
 */
export function startupProbe(action: Pick<V1Probe, 'exec' | 'httpGet' | 'tcpSocket'>, seconds: number): V1Probe {
  return { ...action, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: Math.ceil(seconds / 10) };
}

/** A container that cannot gain privileges, writes only to its volumes and runs as `user`. */
export function restrictedSecurityContext(user: number): NonNullable<V1Container['securityContext']> {
  return {
    runAsUser: user,
    runAsGroup: user,
    runAsNonRoot: user !== 0,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  };
}

/** The config-hash annotation: a digest of everything a pod reads from ConfigMaps and Secrets. */
export function configHashAnnotation(...inputs: readonly unknown[]): Record<string, string> {
  const hash = createHash('sha256');
  for (const input of inputs) hash.update(typeof input === 'string' ? input : JSON.stringify(input)).update('\0');
  return { [ANNOTATIONS.configHash]: hash.digest('hex').slice(0, 32) };
}

export function configMap(config: StackConfig, name: string, component: Component, data: Record<string, string>): Manifest {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: metadata(config, name, component), data };
}

/**
 * An init container that hands a volume to the user the main container runs as: hostPath
 * directories are created root-owned and fsGroup does not apply to them.
 */
export function volumeOwnerInit(image: string, user: number, volume: string, mountPath: string, resources: Resources): V1Container {
  return {
    name: `${volume}-owner`,
    image,
    command: ['chown', `${user}:${user}`, mountPath],
    resources: resourceRequirements(resources),
    securityContext: { ...restrictedSecurityContext(0), capabilities: { drop: ['ALL'], add: ['CHOWN'] } },
    volumeMounts: [{ name: volume, mountPath }],
  };
}
