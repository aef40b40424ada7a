/**
 * The GitOps loop's rig, shared by test/cluster/flux.test.ts and the Flux bench: the local
 * control plane with two Nodes, the real Flux, a local HTTPS git server, and a copy of this
 * repository whose config points at that server (throw-away age keys, `npm run secrets -- init`
 * for every environment), a git work tree pushing to it, and the bootstrap as
 * `npm run bootstrap -- <env>` prints it (the age key Secret, then clusters/<env> applied).
 */
import { join } from 'node:path';
import { $ } from 'zx';
import { compile } from '../../compiler/compile.ts';
import { FLUX } from '../../compiler/facts.ts';
import { findAgeKeyLine } from '../../compiler/gitops/bootstrap.ts';
import { objectId, serverSideApply, type ApplyResult } from '../../compiler/kube/apply.ts';
import type { KubeObject } from '../../compiler/kube/schema.ts';
import { kustomizeBuild } from '../../compiler/kustomize/build.ts';
import { recipients } from '../../compiler/secrets/sops-config.ts';
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

export interface FluxRigOptions {
  environment: string;
  /** gitops.healthCheckTimeout of the copy (Flux's floor is 30s). */
  healthCheckTimeout?: string;
}

export class FluxRig implements AsyncDisposable {
  cluster?: LocalCluster;
  flux?: LocalFlux;
  git?: GitServer;
  repo?: TempRepo;
  readonly kustomization: string;
  namespace = '';

  private constructor(readonly environment: string) {
    this.kustomization = `stacklight-${environment}`;
  }

  /** Everything up and the copy compiled, nothing pushed or bootstrapped yet. */
  static async start(options: FluxRigOptions): Promise<FluxRig> {
    const rig = new FluxRig(options.environment);
    try {
      await rig.setUp(options);
      return rig;
    } catch (error) {
      await rig.dispose();
      throw error;
    }
  }

  private async setUp(options: FluxRigOptions): Promise<void> {
    const cluster = (this.cluster = await LocalCluster.start());
    const git = (this.git = await GitServer.start(join(cluster.dir, 'git'), cluster.loopbackServingCert()));
    const repo = (this.repo = await tempRepo({ secrets: false }));
    this.flux = await LocalFlux.start(cluster);
    await cluster.addNodes(['node-1', 'node-2']);
    await git.create('stacklight');
    const stackFile = 'config/stack.ts';
    const stack = await repo.read(stackFile);
    let pointed = stack.replace(/url: 'https:\/\/github\.com\/[^']+'/, `url: '${git.url('stacklight')}'`);
    if (options.healthCheckTimeout) pointed = pointed.replace(/healthCheckTimeout: '[^']+'/, `healthCheckTimeout: '${options.healthCheckTimeout}'`);
    if (pointed === stack) throw new Error('the repository URL was not found in config/stack.ts');
    await repo.write(stackFile, pointed);
    for (const environment of ['dev', 'prod']) {
      await runCliOk('secrets.ts', ['init', environment, '--root', repo.root, '--age-key-file', this.keyFile]);
    }
    await repo.write('.gitignore', 'keys.txt\n');
    await this.gitIn('init', '-q', '-b', 'main');
    await this.gitIn('remote', 'add', 'origin', git.url('stacklight'));
    await compile({ root: repo.root });
    this.namespace = objectId((await this.overlayObjects()).find((o) => o.kind === 'DaemonSet')!).split('/')[1]!;
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
    const ageSecret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: FLUX.decryptionSecret, namespace: FLUX.namespace }, stringData: { [FLUX.ageKeyFile]: line } };
    return serverSideApply(this.cluster!.kubeConfig, [ageSecret, ...(await kustomizeBuild(join(this.repo!.root, 'clusters', this.environment)))]);
  }

  /** Asks Flux to fetch now (as a webhook or `flux reconcile` would) and waits until `revision` is applied; the seconds it took. */
  async syncTo(revision: string, timeoutMs = 60_000): Promise<number> {
    const started = performance.now();
    await this.flux!.reconcile('GitRepository', FLUX.sourceName);
    await this.flux!.waitFor('GitRepository', FLUX.sourceName, (s) => s.artifact?.revision === revision, timeoutMs);
    await this.flux!.waitFor('Kustomization', this.kustomization, (s) => appliedRevision(s) === revision, timeoutMs);
    return (performance.now() - started) / 1000;
  }

  overlayObjects(): Promise<KubeObject[]> {
    return kustomizeBuild(join(this.repo!.root, 'overlays', this.environment));
  }

  async dispose(): Promise<void> {
    await this.flux?.dispose();
    await this.git?.dispose();
    await this.cluster?.dispose();
    await this.repo?.remove();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
