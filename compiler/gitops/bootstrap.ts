/**
 * The one-time steps that put a cluster under GitOps, as exact commands for an environment:
 * install the engine, give it the environment's age key (read from the operator's key file by
 * line number, so the key is never printed), and apply clusters/<env>.
 */
import { readFile } from 'node:fs/promises';
import { identityToRecipient } from 'age-encryption';
import type { StackConfig } from '../config/types.ts';
import { ARGOCD, FLUX } from '../facts.ts';
import { TOOLS } from '../tools.ts';
import { configHashAnnotation } from '../kube/objects.ts';
import { sopsPluginConfig } from './argocd-plugin.ts';

/** Where the private key of one of `recipients` is in the key file: its line (1-based). */
export async function findAgeKeyLine(
  keyFile: string,
  recipients: readonly string[],
): Promise<{ line: number; recipient: string } | undefined> {
  const lines = (await readFile(keyFile, 'utf8').catch(() => '')).split('\n');
  for (const [index, text] of lines.entries()) {
    if (!text.startsWith('AGE-SECRET-KEY-')) continue;
    const recipient = await identityToRecipient(text.trim());
    if (recipients.includes(recipient)) return { line: index + 1, recipient };
  }
  return undefined;
}

export interface BootstrapInput {
  environment: string;
  config: StackConfig;
  keyFile: string;
  recipients: readonly string[];
  key: { line: number; recipient: string } | undefined;
}

function keyStep(input: BootstrapInput, namespace: string, secret: string, fileName: string): string[] {
  if (!input.key) {
    return [
      `# No private key of ${input.recipients.join(', ') || '(no recipient: run npm run secrets -- init ' + input.environment + ')'} is in ${input.keyFile}:`,
      `# run this where it is, or use --age-key-file.`,
      `kubectl -n ${namespace} create secret generic ${secret} --from-file=${fileName}=<file holding the key>`,
    ];
  }
  return [
    `# The private key of ${input.key.recipient} is line ${input.key.line} of ${input.keyFile}; it goes straight into the Secret.`,
    `sed -n '${input.key.line}p' '${input.keyFile}' | kubectl -n ${namespace} create secret generic ${secret} --from-file=${fileName}=/dev/stdin`,
  ];
}

function fluxSteps(input: BootstrapInput): string[] {
  return [
    `# 1. Install Flux's controllers (the flux CLI: https://fluxcd.io/flux/installation/).`,
    `flux install --namespace=${FLUX.namespace}`,
    `# Let a new revision cancel a running health check: without it a fix for a stuck rollout waits`,
    `# behind the Kustomization's timeout (gitops.healthCheckTimeout) before it is applied. \`flux install\``,
    `# (an upgrade) resets the controller's args: run this again after it (npm run status warns).`,
    `kubectl -n ${FLUX.namespace} patch deployment kustomize-controller --type json -p '${JSON.stringify([{ op: 'add', path: '/spec/template/spec/containers/0/args/-', value: `--feature-gates=${FLUX.kustomizeControllerFeatureGates}` }])}'`,
    `kubectl -n ${FLUX.namespace} rollout status deployment kustomize-controller`,
    ``,
    `# 2. The age key Flux decrypts the Secrets of ${input.environment} with (a Secret key ending in .agekey).`,
    ...keyStep(input, FLUX.namespace, FLUX.decryptionSecret, FLUX.ageKeyFile),
    ``,
    `# 3. Point Flux at this repository: it then applies overlays/${input.environment} and keeps it applied.`,
    `kubectl apply -k clusters/${input.environment}`,
    ``,
    `# 4. Watch it converge.`,
    `flux get kustomizations --namespace=${FLUX.namespace} --watch`,
  ];
}

/** As Argo CD's own containers run: its user, nothing more. */
const ARGOCD_USER = {
  runAsNonRoot: true,
  runAsUser: 999,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};

/**
 * The repo server patch that serves the SOPS plugin: an init container builds the pinned sops
 * and kustomize (compiler/tools.ts, from the Go module proxy) onto a shared volume; the sidecar
 * runs argocd-cmp-server (which the repo server's own init container puts in var-files) with
 * them on its PATH, the plugin.yaml of clusters/<env>, and the age key mounted read-only.
 */
export function sopsPluginRepoServerPatch(): object {
  const tools = { name: 'stacklight-tools', mountPath: '/stacklight-tools' };
  const keyDir = '/sops-age';
  const build = { name: 'stacklight-build', mountPath: '/tmp' };
  const work = { name: 'stacklight-plugin-tmp', mountPath: '/tmp' };
  const install = (tool: 'sops' | 'kustomize') => `go install ${TOOLS[tool].module}@${TOOLS[tool].version}`;
  return {
    spec: {
      template: {
        // argocd-cmp-server reads plugin.yaml only at start: a changed plugin changes this
        // annotation, so applying the patch again rolls the repo server.
        metadata: { annotations: configHashAnnotation(sopsPluginConfig()) },
        spec: {
          initContainers: [{
            name: 'install-sops-kustomize',
            image: ARGOCD.toolsImage,
            command: ['sh', '-c'],
            args: [`${install('sops')} && ${install('kustomize')}`],
            env: [
              { name: 'GOBIN', value: `${tools.mountPath}/bin` },
              { name: 'GOPATH', value: '/tmp/go' },
              { name: 'GOCACHE', value: '/tmp/go-cache' },
              { name: 'CGO_ENABLED', value: '0' },
            ],
            securityContext: ARGOCD_USER,
            volumeMounts: [tools, build],
          }],
          containers: [{
            name: ARGOCD.plugin.sidecar,
            image: ARGOCD.toolsImage,
            command: ['/var/run/argocd/argocd-cmp-server'],
            env: [
              { name: 'PATH', value: `${tools.mountPath}/bin:/usr/local/bin:/usr/bin:/bin` },
              { name: 'SOPS_AGE_KEY_FILE', value: `${keyDir}/${ARGOCD.ageKeyFile}` },
            ],
            securityContext: ARGOCD_USER,
            volumeMounts: [
              { name: 'var-files', mountPath: '/var/run/argocd' },
              { name: 'plugins', mountPath: '/home/argocd/cmp-server/plugins' },
              { name: ARGOCD.plugin.configMap, mountPath: '/home/argocd/cmp-server/config', readOnly: true },
              { ...tools, readOnly: true },
              { name: ARGOCD.ageKeySecret, mountPath: keyDir, readOnly: true },
              // the plugin's working copy, where the Secrets are decrypted: memory only
              work,
            ],
          }],
          volumes: [
            { name: tools.name, emptyDir: {} },
            { name: build.name, emptyDir: {} },
            { name: work.name, emptyDir: { medium: 'Memory' } },
            { name: ARGOCD.plugin.configMap, configMap: { name: ARGOCD.plugin.configMap } },
            { name: ARGOCD.ageKeySecret, secret: { secretName: ARGOCD.ageKeySecret } },
          ],
        },
      },
    },
  };
}

function argoSteps(input: BootstrapInput): string[] {
  return [
    `# 1. Install Argo CD (https://argo-cd.readthedocs.io/en/stable/getting_started/).`,
    `kubectl create namespace ${ARGOCD.namespace}`,
    `kubectl apply -n ${ARGOCD.namespace} -f https://raw.githubusercontent.com/argoproj/argo-cd/${ARGOCD.version}/manifests/install.yaml`,
    ``,
    `# 2. The age key the SOPS plugin decrypts the Secrets of ${input.environment} with.`,
    ...keyStep(input, ARGOCD.namespace, ARGOCD.ageKeySecret, ARGOCD.ageKeyFile),
    ``,
    `# 3. The plugin's config, the project and the application (it syncs once the plugin answers).`,
    `kubectl apply -k clusters/${input.environment}`,
    ``,
    `# 4. The plugin: a repo server sidecar running sops ${TOOLS.sops.version} and kustomize ${TOOLS.kustomize.version}`,
    `#    (built at start from the Go module proxy), with the key mounted read-only. Run this again`,
    `#    whenever the plugin's ConfigMap in clusters/${input.environment} changes: it then rolls the repo server.`,
    `kubectl -n ${ARGOCD.namespace} patch deployment argocd-repo-server --type strategic -p '${JSON.stringify(sopsPluginRepoServerPatch())}'`,
    `kubectl -n ${ARGOCD.namespace} rollout status deployment argocd-repo-server`,
    ``,
    `# 5. Watch it converge.`,
    `kubectl -n ${ARGOCD.namespace} get application stacklight-${input.environment} --watch`,
  ];
}

export function bootstrapCommands(input: BootstrapInput): string {
  const steps = input.config.gitops.engine === 'flux' ? fluxSteps(input) : argoSteps(input);
  return [`# Bootstrap of ${input.environment} with ${input.config.gitops.engine === 'flux' ? 'Flux' : 'Argo CD'}, from a clone of this repository, kubectl pointing at the cluster.`, '', ...steps, ''].join('\n');
}
