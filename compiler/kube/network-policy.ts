/**
 * The stack's NetworkPolicies: ingress to one component's port only from named components (in
 * whatever namespace each runs) and from address ranges, less the pod ranges inside them, so
 * that a broad range never admits a pod that its labels do not. InfluxDB's and Grafana's
 * policies are both made here.
 */
import type { StackConfig } from '../config/types.ts';
import { cidrContains } from '../config/cidr.ts';
import { componentNamespace, metadata, nameAndPartOfLabels, type Component, type Manifest } from './objects.ts';

/** The label the API server puts on every namespace (Kubernetes 1.22+). */
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export interface IngressSources {
  /** Components whose pods may connect. */
  components?: readonly Component[];
  /** Address ranges that may connect... */
  cidrs: readonly string[];
  /** ...except the pod ranges inside them: a pod is admitted by its labels or not at all. */
  exceptPodCidrs: readonly string[];
}

function ipBlock(cidr: string, podCidrs: readonly string[]): { cidr: string; except?: string[] } {
  const except = podCidrs.filter((pods) => cidrContains(cidr, pods));
  return except.length > 0 ? { cidr, except } : { cidr };
}

export function ingressPolicy(config: StackConfig, name: string, component: Component, port: number, sources: IngressSources): Manifest {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: metadata(config, name, component),
    spec: {
      podSelector: { matchLabels: nameAndPartOfLabels(component) },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [
            ...(sources.components ?? []).map((peer) => ({
              namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: componentNamespace(config, peer) } },
              podSelector: { matchLabels: nameAndPartOfLabels(peer) },
            })),
            ...sources.cidrs.map((cidr) => ({ ipBlock: ipBlock(cidr, sources.exceptPodCidrs) })),
          ],
          ports: [{ protocol: 'TCP', port }],
        },
      ],
    },
  };
}
