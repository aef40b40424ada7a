/**
 * The one-time steps that put a cluster under GitOps, as exact commands for an environment:
 * install the engine, give it the environment's age key (read from the operator's key file by
 * line number, so the key is never printed), and apply clusters/<env>.
 */
import { readFile } from 'node:fs/promises';
import { identityToRecipient } from 'age-encryption';
import type { StackConfig } from '../config/types.ts';
import { ARGOCD, FLUX } from '../facts.ts';

/** Where the private key of one of `recipients` is in the key file: its line (1-based). */
export async function findAgeKeyLine(keyFile: string, recipients: readonly string[]): Promise<{ line: number; recipient: string } | undefined> {
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
    `# behind the Kustomization's timeout (gitops.healthCheckTimeout) before it is applied.`,
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

/**
 * The repo server patch of KSOPS's Argo CD integration: an init container copies ksops and its
 * kustomize onto a shared volume, which replaces the repo server's kustomize; SOPS finds the age
 * key at $XDG_CONFIG_HOME/sops/age/keys.txt, mounted from the key Secret.
 */
export function ksopsRepoServerPatch(): object {
  const tools = 'custom-tools';
  const toolsDir = `/${tools}`;
  const keys = ARGOCD.ageKeySecret;
  const configHome = '/.config';
  return {
    spec: {
      template: {
        spec: {
          initContainers: [{
            name: 'install-ksops',
            image: ARGOCD.ksopsImage,
            command: ['/bin/sh', '-c'],
            args: [`cp ksops kustomize ${toolsDir}/`],
            // As the repo server itself runs: Argo CD's user, nothing more.
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 999,
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ['ALL'] },
            },
            volumeMounts: [{ name: tools, mountPath: toolsDir }],
          }],
          containers: [{
            name: 'argocd-repo-server',
            env: [{ name: 'XDG_CONFIG_HOME', value: configHome }],
            volumeMounts: [
              { name: tools, mountPath: '/usr/local/bin/kustomize', subPath: 'kustomize' },
              { name: tools, mountPath: '/usr/local/bin/ksops', subPath: 'ksops' },
              { name: keys, mountPath: `${configHome}/sops/age`, readOnly: true },
            ],
          }],
          volumes: [
            { name: tools, emptyDir: {} },
            { name: keys, secret: { secretName: keys } },
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
    `kubectl apply -n ${ARGOCD.namespace} -f https://raw.githubusercontent.com/argoproj/argo-cd/stable/manifests/install.yaml`,
    ``,
    `# 2. The age key KSOPS decrypts the Secrets of ${input.environment} with.`,
    ...keyStep(input, ARGOCD.namespace, ARGOCD.ageKeySecret, ARGOCD.ageKeyFile),
    ``,
    `# 3. Let kustomize run KSOPS, the generator that decrypts the overlay's Secrets, and give the`,
    `#    repo server ksops (${ARGOCD.ksopsImage}) and the key (KSOPS's Argo CD integration).`,
    `kubectl -n ${ARGOCD.namespace} patch configmap argocd-cm --type merge -p '{"data":{"kustomize.buildOptions":"--enable-alpha-plugins --enable-exec"}}'`,
    `kubectl -n ${ARGOCD.namespace} patch deployment argocd-repo-server --type strategic -p '${JSON.stringify(ksopsRepoServerPatch())}'`,
    `kubectl -n ${ARGOCD.namespace} rollout status deployment argocd-repo-server`,
    ``,
    `# 4. The project and the application: Argo CD then syncs overlays/${input.environment} automatically.`,
    `kubectl apply -k clusters/${input.environment}`,
    ``,
    `# 5. Watch it converge.`,
    `kubectl -n ${ARGOCD.namespace} get application stacklight-${input.environment} --watch`,
  ];
}

export function bootstrapCommands(input: BootstrapInput): string {
  const steps = input.config.gitops.engine === 'flux' ? fluxSteps(input) : argoSteps(input);
  return [`# Bootstrap of ${input.environment} with ${input.config.gitops.engine === 'flux' ? 'Flux' : 'Argo CD'}, from a clone of this repository, kubectl pointing at the cluster.`, '', ...steps, ''].join('\n');
}
