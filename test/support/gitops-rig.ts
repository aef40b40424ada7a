/**
 * The GitOps loop's rig, shared by the Flux and Argo CD tests and the Flux bench: the local
 * control plane with two Nodes, the real Flux or Argo CD, a local HTTPS git server, and a copy of
 * this repository whose config points at that server and selects the engine (throw-away age
 * keys, `npm run secrets -- init` for every environment), a git work tree pushing to it, and the
 * bootstrap as `npm run bootstrap -- <env>` prints it (the age key Secret, then clusters/<env>
 * applied).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { AppsV1Api } from '@kubernetes/client-node';
import { $ } from 'zx';
import { compile } from '../../compiler/compile.ts';
import { environmentConfig } from '../../compiler/config/load.ts';
import type { GitOpsEngine, Namespaces, StackConfig } from '../../compiler/config/types.ts';
import { ANNOTATIONS, ARGOCD, FLUX } from '../../compiler/facts.ts';
import { findAgeKeyLine } from '../../compiler/gitops/bootstrap.ts';
import { serverSideApply, type ApplyResult } from '../../compiler/kube/apply.ts';
import type { KubeObject } from '../../compiler/kube/schema.ts';
import { kustomizeBuild } from '../../compiler/kustomize/build.ts';
import { parseYamlDocuments } from '../../compiler/render/yaml.ts';
import { recipients } from '../../compiler/secrets/sops-config.ts';
import { decrypt } from '../../compiler/secrets/sops.ts';
import { LocalArgoCD, type ApplicationStatus } from './argocd.ts';
import { runCliOk } from './cli.ts';
import { LocalCluster } from './cluster.ts';
import { condition, LocalFlux, type FluxStatus } from './flux.ts';
import { GitServer } from './git-server.ts';
import { tempRepo, type TempRepo } from './temp-repo.ts';

const quiet = { quiet: true, verbose: false } as const;

/** The revision whose objects a Kustomization has applied (its health checks may still run, or have failed: no pod runs here). */
export function appliedRevision(status: FluxStatus): string | undefined {
  if (condition(status, 'Ready')?.status === 'True') return status.lastAppliedRevision;
  const progress = [condition(status, 'Reconciling')?.message, condition(status, 'Healthy')?.message, condition(status, 'Ready')?.message];
  const checking = progress.map((m) => m?.match(/health checks for revision (\S+)/)?.[1]).find(Boolean);
  if (checking) return checking;
  if (condition(status, 'Ready')?.reason === 'HealthCheckFailed') return status.lastAttemptedRevision;
  return undefined;
}

/** The values `npm run secrets` set in an environment's Secret file, decrypted with the run's key. */
/** The values `npm run secrets` set for a Secret (`<namespace>/<name>`, its file under secrets/). */
export async function secretValuesSet(root: string, environment: string, id: string, keyFile: string): Promise<Record<string, string>> {
  const [secret] = parseYamlDocuments(await decrypt(root, `overlays/${environment}/secrets/${id}.yaml`, keyFile), id) as [{ stringData: Record<string, string> }];
  return secret.stringData;
}

/**
 * The commit an Argo CD Application is synced to: compared with the cluster and found in sync
 * (after a sync operation, or without one when the commit changes nothing).
 */
export function syncedCommit(status: ApplicationStatus): string | undefined {
  return status.sync?.status === 'Synced' ? status.sync.revision : undefined;
}

/** The commit of the Application's last successful sync operation. */
export function lastSyncOperation(status: ApplicationStatus): string | undefined {
  const operation = status.operationState;
  return operation?.phase === 'Succeeded' ? operation.syncResult?.revision : undefined;
}

export interface GitOpsRigOptions {
  environment: string;
  engine: GitOpsEngine;
  /** gitops.healthCheckTimeout of the copy (Flux's floor is 30s). */
  healthCheckTimeout?: string;
}

export class GitOpsRig implements AsyncDisposable {
  cluster?: LocalCluster;
  flux?: LocalFlux;
  argocd?: LocalArgoCD;
  git?: GitServer;
  repo?: TempRepo;
  readonly kustomization: string;
  /** The stack's namespaces in the copy's config. */
  namespaces: Namespaces = { collector: '', backend: '' };

  private constructor(readonly environment: string, readonly engine: GitOpsEngine) {
    this.kustomization = `stacklight-${environment}`;
  }

  /** The Kustomization's or the Application's name. */
  get syncName(): string {
    return this.kustomization;
  }

  /** Everything up and the copy compiled, nothing pushed or bootstrapped yet. */
  static async start(options: GitOpsRigOptions): Promise<GitOpsRig> {
    const rig = new GitOpsRig(options.environment, options.engine);
    try {
      await rig.setUp(options);
      return rig;
    } catch (error) {
      await rig.dispose();
      throw error;
    }
  }

  private async setUp(options: GitOpsRigOptions): Promise<void> {
    const cluster = (this.cluster = await LocalCluster.start());
    const git = (this.git = await GitServer.start(join(cluster.dir, 'git'), cluster.loopbackServingCert()));
    const repo = (this.repo = await tempRepo({ secrets: false }));
    await cluster.addNodes(['node-1', 'node-2']);
    await git.create('stacklight');
    const stackFile = 'config/stack.ts';
    const stack = await repo.read(stackFile);
    let pointed = stack.replace(/url: 'https:\/\/github\.com\/[^']+'/, `url: '${git.url('stacklight')}'`);
    if (options.healthCheckTimeout) pointed = pointed.replace(/healthCheckTimeout: '[^']+'/, `healthCheckTimeout: '${options.healthCheckTimeout}'`);
    if (pointed === stack) throw new Error('the repository URL was not found in config/stack.ts');
    await repo.write(stackFile, pointed);
    if (this.engine !== 'flux') {
      const envFile = `config/environments/${this.environment}.ts`;
      const text = await repo.read(envFile);
      await repo.write(envFile, text.replace('export const overrides: EnvironmentOverrides = {', `export const overrides: EnvironmentOverrides = {\n  gitops: { engine: '${this.engine}' },`));
    }
    for (const environment of ['dev', 'prod']) {
      await runCliOk('secrets.ts', ['init', environment, '--root', repo.root, '--age-key-file', this.keyFile]);
    }
    await repo.write('.gitignore', 'keys.txt\n');
    await this.gitIn('init', '-q', '-b', 'main');
    await this.gitIn('remote', 'add', 'origin', git.url('stacklight'));
    await compile({ root: repo.root });
    this.namespaces = (await this.config()).namespaces;
    if (this.engine === 'flux') {
      this.flux = await LocalFlux.start(cluster);
    } else {
      // the plugin as the bootstrap's sidecar serves it: the compiled plugin.yaml, the age key
      const [configMap] = parseYamlDocuments(await repo.read(`clusters/${this.environment}/configmap-${ARGOCD.plugin.configMap}.yaml`), 'plugin') as [{ data: Record<string, string> }];
      this.argocd = await LocalArgoCD.start(cluster, { pluginConfig: configMap.data['plugin.yaml']!, ageKeyFile: this.keyFile });
    }
  }

  get keyFile(): string {
    return join(this.repo!.root, 'keys.txt');
  }

  async gitIn(...args: string[]): Promise<string> {
    const who = { GIT_AUTHOR_NAME: 'test', GIT_AUTHOR_EMAIL: 'test@example.invalid', GIT_COMMITTER_NAME: 'test', GIT_COMMITTER_EMAIL: 'test@example.invalid' };
    const env = { ...process.env, ...who, GIT_SSL_CAINFO: this.cluster!.caFile };
    return (await $({ ...quiet, cwd: this.repo!.root, env })`git ${args}`).stdout.trim();
  }

  /** Commits everything and pushes; the pushed revision as Flux names it. */
  async push(message: string): Promise<string> {
    await this.gitIn('add', '-A');
    await this.gitIn('commit', '-q', '--allow-empty', '-m', message);
    await this.gitIn('push', '-q', 'origin', 'main');
    return `main@sha1:${await this.gitIn('rev-parse', 'HEAD')}`;
  }

  async compileAndPush(message: string): Promise<string> {
    await compile({ root: this.repo!.root });
    return this.push(message);
  }

  /** The bootstrap's steps 2 and 3: the age key Secret (the key file's line), clusters/<env> applied. */
  async bootstrap(): Promise<ApplyResult[]> {
    const key = await findAgeKeyLine(this.keyFile, await recipients(this.repo!.root, this.environment));
    if (!key) throw new Error(`the run's key file holds no ${this.environment} key`);
    const line = (await this.repo!.read('keys.txt')).split('\n')[key.line - 1]!;
    const ageSecret = this.engine === 'flux'
      ? { apiVersion: 'v1', kind: 'Secret', metadata: { name: FLUX.decryptionSecret, namespace: FLUX.namespace }, stringData: { [FLUX.ageKeyFile]: line } }
      : { apiVersion: 'v1', kind: 'Secret', metadata: { name: ARGOCD.ageKeySecret, namespace: ARGOCD.namespace }, stringData: { [ARGOCD.ageKeyFile]: line } };
    return serverSideApply(this.cluster!.kubeConfig, [ageSecret, ...(await kustomizeBuild(join(this.repo!.root, 'clusters', this.environment)))]);
  }

  /** Asks Flux to fetch now (as a webhook or `flux reconcile` would) and waits until `revision` is applied; the seconds it took. */
  async syncTo(revision: string, timeoutMs = 60_000): Promise<number> {
    const started = performance.now();
    if (this.argocd) {
      const commit = revision.replace(/^.*@sha1:/, '');
      await this.argocd.refresh(this.syncName);
      await this.argocd.waitFor(this.syncName, (s) => syncedCommit(s) === commit, timeoutMs);
      return (performance.now() - started) / 1000;
    }
    await this.flux!.reconcile('GitRepository', FLUX.sourceName);
    await this.flux!.waitFor('GitRepository', FLUX.sourceName, (s) => s.artifact?.revision === revision, timeoutMs);
    await this.flux!.waitFor('Kustomization', this.kustomization, (s) => appliedRevision(s) === revision, timeoutMs);
    return (performance.now() - started) / 1000;
  }

  /** A Secret (`<namespace>/<name>`) in the cluster, and the values set for it in git. */
  liveSecret(id: string): Promise<Record<string, string>> {
    const [namespace, name] = id.split('/') as [string, string];
    return this.cluster!.secretData(namespace, name);
  }

  valuesSet(id: string): Promise<Record<string, string>> {
    return secretValuesSet(this.repo!.root, this.environment, id, this.keyFile);
  }

  /** Every Secret of the overlay holds in the cluster the values set in git. */
  async assertSecretsSynced(): Promise<void> {
    for (const object of await this.overlayObjects()) {
      if (object.kind !== 'Secret') continue;
      const id = `${String((object.metadata as { namespace?: string }).namespace)}/${String(object.metadata?.name)}`;
      assert.deepEqual(await this.liveSecret(id), await this.valuesSet(id), id);
    }
  }

  /** The stack's workloads as the cluster has them: each pod template's config hash, and each Deployment's ReplicaSets. */
  async rollout(): Promise<{ hashes: Record<string, string | undefined>; replicaSets: Record<string, number> }> {
    const apps = this.cluster!.kubeConfig.makeApiClient(AppsV1Api);
    const hashes: Record<string, string | undefined> = {};
    const replicaSets: Record<string, number> = {};
    for (const namespace of Object.values(this.namespaces)) {
      for (const ds of (await apps.listNamespacedDaemonSet({ namespace })).items) {
        hashes[`DaemonSet/${ds.metadata!.name}`] = ds.spec!.template.metadata?.annotations?.[ANNOTATIONS.configHash];
      }
      const sets = (await apps.listNamespacedReplicaSet({ namespace })).items;
      for (const d of (await apps.listNamespacedDeployment({ namespace })).items) {
        const name = d.metadata!.name!;
        hashes[`Deployment/${name}`] = d.spec!.template.metadata?.annotations?.[ANNOTATIONS.configHash];
        replicaSets[name] = sets.filter((rs) => rs.metadata?.ownerReferences?.some((o) => o.name === name)).length;
      }
    }
    return { hashes, replicaSets };
  }

  /** The environment's config as the copy resolves it. */
  config(): Promise<StackConfig> {
    return environmentConfig(join(this.repo!.root, 'config'), this.environment);
  }

  overlayObjects(): Promise<KubeObject[]> {
    return kustomizeBuild(join(this.repo!.root, 'overlays', this.environment));
  }

  async dispose(): Promise<void> {
    await this.flux?.dispose();
    await this.argocd?.dispose();
    await this.git?.dispose();
    await this.cluster?.dispose();
    await this.repo?.remove();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
