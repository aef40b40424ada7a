/**
 * Argo CD's side of the SOPS Secrets: a config management plugin (served by argocd-cmp-server in
 * a sidecar of the repo server) that decrypts the overlay's Secret files in its working copy with
 * sops, then builds the overlay with kustomize, as Flux's kustomize-controller does. The working
 * copy is the sidecar's own, on a memory-backed volume, and Argo CD removes it after the build.
 */
import { ARGOCD } from '../facts.ts';
import { SECRETS_DIR } from '../kustomize/overlay.ts';
import { toYaml } from '../render/yaml.ts';

/** The plugin's generate step: plain sh, the pinned sops and kustomize on the sidecar's PATH. */
export const SOPS_PLUGIN_GENERATE = [
  'set -eu',
  // secrets/<namespace>/<name>.yaml
  `for file in ${SECRETS_DIR}/*/*.yaml; do`,
  '  [ -e "$file" ] || continue',
  '  sops --decrypt --in-place "$file"',
  'done',
  'kustomize build .',
].join('\n');

/** The plugin.yaml argocd-cmp-server reads (a ConfigManagementPlugin, not a cluster object). */
export function sopsPluginConfig() {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'ConfigManagementPlugin',
    metadata: { name: ARGOCD.plugin.name },
    spec: {
      // No `discover` rule: Argo CD tries discovering plugins on every Application without a source
      // type, so one would claim other teams' apps; without it the plugin runs only where named.
      generate: { command: ['sh', '-c'], args: [SOPS_PLUGIN_GENERATE] },
    },
  };
}

/** The ConfigMap the sidecar mounts its plugin.yaml from, applied with clusters/<env>. */
export function sopsPluginConfigMap() {
  return {
    apiVersion: 'v1' as const,
    kind: 'ConfigMap' as const,
    metadata: { name: ARGOCD.plugin.configMap, namespace: ARGOCD.namespace },
    data: { 'plugin.yaml': toYaml(sopsPluginConfig()) },
  };
}
