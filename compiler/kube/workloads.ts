/**
 * The shapes every workload of the stack shares: its pod template (labels, config hash, no
 * service-account token, no service links), the single-replica Deployment, the Service in front
 * of a component, and a volume that is either an emptyDir or a host directory.
 */
import type { V1PodSpec, V1PodTemplateSpec, V1ServicePort, V1ServiceSpec, V1Volume } from '@kubernetes/client-node';
import type { StackConfig, Storage } from '../config/types.ts';
import { componentLabels, configHashAnnotation, metadata, nameAndPartOfLabels, type Component, type Manifest } from './objects.ts';

/** A pod template whose config-hash annotation covers `hashed` (ConfigMap data, Secret ciphertexts). */
export function podTemplate(config: StackConfig, component: Component, hashed: readonly unknown[], spec: V1PodSpec): V1PodTemplateSpec {
  return {
    metadata: { labels: componentLabels(config, component), annotations: configHashAnnotation(...hashed) },
    spec: {
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      ...spec,
      // the container runtime's default seccomp filter for every pod (Pod Security's restricted asks for it)
      securityContext: { ...spec.securityContext, seccompProfile: { type: 'RuntimeDefault' } },
    },
  };
}

/** One replica, replaced (never doubled) on change: for components whose state is not shareable. */
export function singleReplicaDeployment(config: StackConfig, component: Component, template: V1PodTemplateSpec): Manifest {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: metadata(config, component, component),
    spec: { replicas: 1, strategy: { type: 'Recreate' }, selector: { matchLabels: nameAndPartOfLabels(component) }, template },
  };
}

export function service(
  config: StackConfig,
  component: Component,
  type: 'ClusterIP' | 'NodePort',
  port: V1ServicePort,
  extra: Pick<V1ServiceSpec, 'externalTrafficPolicy'> = {},
): Manifest {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(config, component, component),
    spec: { type, ...extra, selector: nameAndPartOfLabels(component), ports: [{ ...port, protocol: 'TCP' }] },
  };
}

export function storageVolume(name: string, source: Storage): V1Volume {
  return source.type === 'hostPath'
    ? { name, hostPath: { path: source.path, type: 'DirectoryOrCreate' } }
    : { name, emptyDir: { sizeLimit: source.sizeLimit } };
}
