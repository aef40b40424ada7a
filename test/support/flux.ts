/**
 * The real Flux (source-controller and kustomize-controller, built by test/cluster/build.sh) as
 * local processes against a LocalCluster: what `flux install` would put in a cluster, minus the
 * Deployments. Their CRDs come from the same modules as the binaries. They read KUBECONFIG and
 * RUNTIME_NAMESPACE from the environment; source-controller trusts the run's CA (SSL_CERT_FILE),
 * so it clones the test's HTTPS git server.
 */
import { mkdir, readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { serverSideApply } from '../../compiler/kube/apply.ts';
import { FLUX } from '../../compiler/facts.ts';
import { GITOPS_RESOURCES } from '../../compiler/gitops/status.ts';
import { parseYamlDocuments } from '../../compiler/render/yaml.ts';
import type { KubeObject } from '../../compiler/kube/schema.ts';
import { Daemon, type LocalCluster } from './cluster.ts';
import { freePort } from './influxdb.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface FluxStatus {
  conditions?: Condition[];
  artifact?: { revision?: string };
  lastAppliedRevision?: string;
  lastAttemptedRevision?: string;
  inventory?: { entries?: { id: string; v: string }[] };
}

interface FluxObject {
  metadata: { generation?: number; annotations?: Record<string, string> };
  status?: FluxStatus;
}

export type FluxKind = 'GitRepository' | 'Kustomization';

async function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    http.get(`http://127.0.0.1:${port}/healthz`, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    }).on('error', () => resolve(false));
  });
}

export class LocalFlux implements AsyncDisposable {
  readonly daemons: Daemon[] = [];
  private constructor(readonly cluster: LocalCluster) {}

  static async start(cluster: LocalCluster): Promise<LocalFlux> {
    const flux = new LocalFlux(cluster);
    try {
      await flux.installCrds();
      await serverSideApply(cluster.kubeConfig, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: FLUX.namespace } }]);
      await flux.startControllers();
      return flux;
    } catch (error) {
      const logs = flux.daemons.map((daemon) => `--- ${daemon.name}:\n${daemon.logTail()}`).join('\n');
      await flux.dispose();
      throw new Error(`Flux did not start: ${(error as Error).message}\n${logs}`, { cause: error });
    }
  }

  private async installCrds(): Promise<void> {
    const dir = path.join(this.cluster.build, 'crds/flux');
    const crds: KubeObject[] = [];
    for (const file of (await readdir(dir)).sort()) {
      crds.push(...(parseYamlDocuments(await readFile(path.join(dir, file), 'utf8'), file) as KubeObject[]));
    }
    const refused = (await serverSideApply(this.cluster.kubeConfig, crds)).filter((r) => r.status === 'refused');
    if (refused.length > 0) throw new Error(`Flux's CRDs refused: ${refused.map((r) => `${r.object}: ${r.message}`).join('; ')}`);
  }

  private async startControllers(): Promise<void> {
    const env = {
      ...process.env,
      KUBECONFIG: this.cluster.kubeconfigPath,
      RUNTIME_NAMESPACE: FLUX.namespace,
      SSL_CERT_FILE: this.cluster.caFile,
    };
    const bin = (name: string) => path.join(this.cluster.build, 'bin', name);
    const log = (name: string) => path.join(this.cluster.dir, `${name}.log`);
    const storagePath = path.join(this.cluster.dir, 'flux-storage');
    await mkdir(storagePath, { recursive: true });
    const ports = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    const [storage, sourceHealth, sourceMetrics, kustomizeHealth, kustomizeMetrics] = ports;
    this.daemons.push(Daemon.start('source-controller', bin('source-controller'), [
      `--storage-path=${storagePath}`,
      `--storage-addr=127.0.0.1:${storage}`, `--storage-adv-addr=127.0.0.1:${storage}`,
      `--health-addr=127.0.0.1:${sourceHealth}`, `--metrics-addr=127.0.0.1:${sourceMetrics}`,
      '--watch-all-namespaces=true',
    ], log('source-controller'), env));
    this.daemons.push(Daemon.start('kustomize-controller', bin('kustomize-controller'), [
      `--health-addr=127.0.0.1:${kustomizeHealth}`, `--metrics-addr=127.0.0.1:${kustomizeMetrics}`,
      '--watch-all-namespaces=true',
      // as the bootstrap sets them
      `--feature-gates=${FLUX.kustomizeControllerFeatureGates}`,
    ], log('kustomize-controller'), env));
    for (const [daemon, port] of [[this.daemons[0]!, sourceHealth], [this.daemons[1]!, kustomizeHealth]] as const) {
      await daemon.waitFor(() => healthy(port), `healthy on ${port}`, 60_000, 200);
    }
  }

  private objects(): CustomObjectsApi {
    return this.cluster.kubeConfig.makeApiClient(CustomObjectsApi);
  }

  async get(kind: FluxKind, name: string): Promise<FluxObject> {
    return (await this.objects().getNamespacedCustomObject({ ...GITOPS_RESOURCES[kind], namespace: FLUX.namespace, name })) as FluxObject;
  }

  /** Asks for a reconcile now, as `flux reconcile` does (the requestedAt annotation). */
  async reconcile(kind: FluxKind, name: string): Promise<void> {
    const { group, version } = GITOPS_RESOURCES[kind];
    const request = {
      apiVersion: `${group}/${version}`, kind,
      metadata: { name, namespace: FLUX.namespace, annotations: { 'reconcile.fluxcd.io/requestedAt': new Date().toISOString() } },
    };
    const [result] = await serverSideApply(this.cluster.kubeConfig, [request], { fieldManager: 'flux-client-side-apply' });
    if (result?.status === 'refused') throw new Error(`reconcile ${kind}/${name}: ${result.message}`);
  }

  /** Polls `kind/name` until `ready(status)` holds; fails with the last status after `timeoutMs`. */
  async waitFor(kind: FluxKind, name: string, ready: (status: FluxStatus) => boolean, timeoutMs = 60_000): Promise<FluxStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const last = (await this.get(kind, name).catch(() => ({ metadata: {} }) as FluxObject)).status ?? {};
      if (ready(last)) return last;
      if (Date.now() > deadline) throw new Error(`${kind}/${name}: condition not met within ${timeoutMs / 1000} s; status ${JSON.stringify(last)}`);
      await sleep(200);
    }
  }

  async dispose(): Promise<void> {
    for (const daemon of [...this.daemons].reverse()) await daemon.stop();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

export function condition(status: FluxStatus, type: string): Condition | undefined {
  return status.conditions?.find((c) => c.type === type);
}
