/**
 * clusters/<env>/: what a cluster's GitOps engine needs to pull this repository and apply
 * overlays/<env>. Flux: a GitRepository and a Kustomization that prunes, waits for the stack's
 * workloads to be healthy, and decrypts the SOPS Secrets with the age key in the `sops-age`
 * Secret. Argo CD: an AppProject, an Application with automated sync, prune and self-heal that
 * builds the overlay through the SOPS config management plugin, and that plugin's ConfigMap
 * (compiler/gitops/argocd-plugin.ts).
 */
import type { IGitRepository } from '@kubernetes-models/flux-cd/source.toolkit.fluxcd.io/v1/GitRepository';
import type { IKustomization } from '@kubernetes-models/flux-cd/kustomize.toolkit.fluxcd.io/v1/Kustomization';
import type { IAppProject } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/AppProject';
import type { IApplication } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application';
import type { StackConfig } from '../config/types.ts';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { ARGOCD, FLUX, NAMES } from '../facts.ts';
import { sopsPluginConfigMap } from './argocd-plugin.ts';

type Named<T extends { metadata?: unknown }> = T & { metadata: NonNullable<T['metadata']> & { name: string; namespace: string } };

export type GitOpsObject =
  | (Named<IGitRepository> & { apiVersion: 'source.toolkit.fluxcd.io/v1'; kind: 'GitRepository' })
  | (Named<IKustomization> & { apiVersion: 'kustomize.toolkit.fluxcd.io/v1'; kind: 'Kustomization' })
  | (Named<IAppProject> & { apiVersion: 'argoproj.io/v1alpha1'; kind: 'AppProject' })
  | (Named<IApplication> & { apiVersion: 'argoproj.io/v1alpha1'; kind: 'Application' })
  | (Named<IConfigMap> & { apiVersion: 'v1'; kind: 'ConfigMap' });

export const overlayPath = (environment: string) => `overlays/${environment}`;

/** The workloads whose health tells that a sync worked (health checks, `npm run status`). */
export function workloads(config: StackConfig) {
  return [
    { apiVersion: 'apps/v1', kind: 'DaemonSet', name: NAMES.collector, namespace: config.namespaces.collector },
    ...(config.influxdb.enabled ? [{ apiVersion: 'apps/v1', kind: 'Deployment', name: NAMES.influxdb, namespace: config.namespaces.backend }] : []),
    { apiVersion: 'apps/v1', kind: 'Deployment', name: NAMES.grafana, namespace: config.namespaces.backend },
  ];
}

function fluxObjects(environment: string, config: StackConfig): GitOpsObject[] {
  const { repository, interval } = config.gitops;
  return [
    {
      apiVersion: 'source.toolkit.fluxcd.io/v1',
      kind: 'GitRepository',
      metadata: { name: FLUX.sourceName, namespace: FLUX.namespace },
      spec: { interval, url: repository.url, ref: { branch: repository.branch } },
    },
    {
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: `stacklight-${environment}`, namespace: FLUX.namespace },
      spec: {
        interval,
        sourceRef: { kind: 'GitRepository', name: FLUX.sourceName },
        path: `./${overlayPath(environment)}`,
        prune: true,
        // The workloads are listed as health checks; `wait: true` would make Flux ignore the list.
        wait: false,
        healthChecks: workloads(config),
        timeout: config.gitops.healthCheckTimeout,
        decryption: { provider: 'sops', secretRef: { name: FLUX.decryptionSecret } },
      },
    },
  ];
}

function argoObjects(environment: string, config: StackConfig): GitOpsObject[] {
  const { repository } = config.gitops;
  return [
    {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'AppProject',
      metadata: { name: ARGOCD.project, namespace: ARGOCD.namespace },
      spec: {
        description: 'The stacklight monitoring stack',
        sourceRepos: [repository.url],
        destinations: Object.values(config.namespaces).map((namespace) => ({ server: ARGOCD.destinationServer, namespace })),
        // InfluxDB's local volume is cluster-scoped
        clusterResourceWhitelist: [
          { group: '', kind: 'Namespace' },
          { group: '', kind: 'PersistentVolume' },
        ],
      },
    },
    {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: `stacklight-${environment}`, namespace: ARGOCD.namespace },
      spec: {
        project: ARGOCD.project,
        source: {
          repoURL: repository.url,
          targetRevision: repository.branch,
          path: overlayPath(environment),
          plugin: { name: ARGOCD.plugin.name },
        },
        // every object names its namespace; this is only the default
        destination: { server: ARGOCD.destinationServer, namespace: config.namespaces.backend },
        syncPolicy: { automated: { prune: true, selfHeal: true }, retry: { limit: 5, backoff: { duration: '30s', factor: 2, maxDuration: '10m' } } },
      },
    },
    sopsPluginConfigMap(),
  ];
}

export function gitopsObjects(environment: string, config: StackConfig): GitOpsObject[] {
  return config.gitops.engine === 'flux' ? fluxObjects(environment, config) : argoObjects(environment, config);
}
