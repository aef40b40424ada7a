/**
 * The real Argo CD (one binary built by test/cluster/build.sh, acting by its name) as local
 * processes against a LocalCluster: the application controller, the repo server, and the SOPS
 * config management plugin served by argocd-cmp-server with the plugin.yaml the compile writes
 * into clusters/<env>, the pinned sops and kustomize on its PATH and the age key in
 * SOPS_AGE_KEY_FILE (what the bootstrap's repo server sidecar gives it). Debian's redis-server is
 * their cache. Installed as Argo CD's install.yaml would: its CRDs, namespace, ConfigMaps and
 * Secret, and the default AppProject. The repo server trusts the run's CA for the git server.
 */
import { copyFile, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { ARGOCD } from '../../compiler/facts.ts';
import { GITOPS_RESOURCES } from '../../compiler/gitops/status.ts';
import { serverSideApply } from '../../compiler/kube/apply.ts';
import type { KubeObject } from '../../compiler/kube/schema.ts';
import { parseYamlDocuments } from '../../compiler/render/yaml.ts';
import { tool } from '../../compiler/tools.ts';
import { Daemon, type LocalCluster } from './cluster.ts';
import { freePort } from './influxdb.ts';

export const REDIS_SERVER = process.env['REDIS_SERVER'] ?? '/usr/bin/redis-server';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ApplicationStatus {
  sync?: { status?: string; revision?: string };
  health?: { status?: string };
  operationState?: { phase?: string; message?: string; syncResult?: { revision?: string } };
  conditions?: { type: string; message?: string }[];
  resources?: { kind: string; name: string; namespace?: string; status?: string }[];
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

export interface ArgoOptions {
  /** The plugin.yaml argocd-cmp-server serves (the compiled ConfigMap's). */
  pluginConfig: string;
  /** The age key file the plugin decrypts with. */
  ageKeyFile: string;
}

export class LocalArgoCD implements AsyncDisposable {
  readonly daemons: Daemon[] = [];
  private constructor(readonly cluster: LocalCluster, readonly dir: string) {}

  static async start(cluster: LocalCluster, options: ArgoOptions): Promise<LocalArgoCD> {
    const argo = new LocalArgoCD(cluster, path.join(cluster.dir, 'argocd'));
    try {
      await argo.install();
      await argo.startProcesses(options);
      return argo;
    } catch (error) {
      const logs = argo.daemons.map((daemon) => `--- ${daemon.name}:\n${daemon.logTail()}`).join('\n');
      await argo.dispose();
      throw new Error(`Argo CD did not start: ${(error as Error).message}\n${logs}`, { cause: error });
    }
  }

  private async apply(objects: readonly KubeObject[], what: string): Promise<void> {
    const refused = (await serverSideApply(this.cluster.kubeConfig, objects)).filter((r) => r.status === 'refused');
    if (refused.length > 0) throw new Error(`${what} refused: ${refused.map((r) => `${r.object}: ${r.message}`).join('; ')}`);
  }

  /** The CRDs, the namespace, install.yaml's ConfigMaps and Secrets, the default project. */
  private async install(): Promise<void> {
    const crdDir = path.join(this.cluster.build, 'crds/argocd');
    const crds: KubeObject[] = [];
    for (const file of (await readdir(crdDir)).sort()) crds.push(...(parseYamlDocuments(await readFile(path.join(crdDir, file), 'utf8'), file) as KubeObject[]));
    await this.apply(crds, 'Argo CD\'s CRDs');
    const install = parseYamlDocuments(await readFile(path.join(this.cluster.build, 'argocd/install.yaml'), 'utf8'), 'install.yaml') as KubeObject[];
    const settings = install.filter((o) => o && (o.kind === 'ConfigMap' || o.kind === 'Secret'))
      .map((o): KubeObject => ({ ...o, metadata: { ...o.metadata, namespace: ARGOCD.namespace } as KubeObject['metadata'] }));
    const defaultProject = {
      apiVersion: 'argoproj.io/v1alpha1', kind: 'AppProject', metadata: { name: 'default', namespace: ARGOCD.namespace },
      spec: { sourceRepos: ['*'], destinations: [{ server: '*', namespace: '*' }], clusterResourceWhitelist: [{ group: '*', kind: '*' }] },
    };
    await this.apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ARGOCD.namespace } }, ...settings, defaultProject], 'Argo CD\'s settings');
  }

  private async startProcesses(options: ArgoOptions): Promise<void> {
    const bin = path.join(this.cluster.build, 'bin');
    const dirs = { plugins: path.join(this.dir, 'plugins'), cmpConfig: path.join(this.dir, 'cmp-config'), tls: path.join(this.dir, 'tls'), home: path.join(this.dir, 'home'), toolsBin: path.join(this.dir, 'bin') };
    for (const dir of Object.values(dirs)) await mkdir(dir, { recursive: true });
    await writeFile(path.join(dirs.cmpConfig, 'plugin.yaml'), options.pluginConfig);
    // ARGOCD_TLS_DATA_PATH holds one CA file per git host, named by the host
    await copyFile(this.cluster.caFile, path.join(dirs.tls, '127.0.0.1'));
    // The pinned sops and kustomize, as the sidecar's init container builds them
    for (const name of ['sops', 'kustomize'] as const) await symlink(await tool(name), path.join(dirs.toolsBin, name));
    const log = (name: string) => path.join(this.dir, `${name}.log`);
    const env = {
      ...process.env,
      HOME: dirs.home,
      KUBECONFIG: this.cluster.kubeconfigPath,
      ARGOCD_FAKE_IN_CLUSTER: 'true',
      ARGOCD_GPG_ENABLED: 'false',
      ARGOCD_PLUGINSOCKFILEPATH: dirs.plugins,
      ARGOCD_TLS_DATA_PATH: dirs.tls,
      PATH: `${bin}:${dirs.toolsBin}:${process.env['PATH']}`,
    };
    const [redis, repoPort, repoMetrics, controllerMetrics] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    this.daemons.push(Daemon.start('redis', REDIS_SERVER, ['--port', String(redis), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], log('redis'), env));
    this.daemons.push(Daemon.start('argocd-cmp-server', path.join(bin, 'argocd-cmp-server'), ['--config-dir-path', dirs.cmpConfig, '--loglevel', 'info'],
      log('argocd-cmp-server'), { ...env, SOPS_AGE_KEY_FILE: options.ageKeyFile }));
    this.daemons.push(Daemon.start('argocd-repo-server', path.join(bin, 'argocd-repo-server'), [
      '--disable-tls', '--client-ca-path', '', '--redis', `127.0.0.1:${redis}`,
      '--address', '127.0.0.1', '--port', String(repoPort), '--metrics-address', '127.0.0.1', '--metrics-port', String(repoMetrics),
    ], log('argocd-repo-server'), env));
    this.daemons.push(Daemon.start('argocd-application-controller', path.join(bin, 'argocd-application-controller'), [
      '--namespace', ARGOCD.namespace, '--redis', `127.0.0.1:${redis}`,
      '--repo-server', `127.0.0.1:${repoPort}`, '--repo-server-plaintext', '--metrics-port', String(controllerMetrics),
    ], log('argocd-application-controller'), env));
    const listeners = [[this.daemons[0]!, redis], [this.daemons[2]!, repoPort], [this.daemons[3]!, controllerMetrics]] as const;
    for (const [daemon, port] of listeners) await daemon.waitFor(() => listening(port), `listening on ${port}`, 60_000, 200);
    const socketMade = async () => (await readdir(dirs.plugins)).some((f) => f.endsWith('.sock'));
    await this.daemons[1]!.waitFor(socketMade, 'a plugin socket', 30_000, 200);
  }

  async application(name: string): Promise<{ metadata: { annotations?: Record<string, string> }; status?: ApplicationStatus }> {
    const api = this.cluster.kubeConfig.makeApiClient(CustomObjectsApi);
    return (await api.getNamespacedCustomObject({ ...GITOPS_RESOURCES.Application, namespace: ARGOCD.namespace, name })) as never;
  }

  /** A hard refresh (the `argocd.argoproj.io/refresh` annotation): fetch and compare now. */
  async refresh(name: string): Promise<void> {
    const request = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', metadata: { name, namespace: ARGOCD.namespace, annotations: { 'argocd.argoproj.io/refresh': 'hard' } } };
    const [result] = await serverSideApply(this.cluster.kubeConfig, [request], { fieldManager: 'argocd-cli' });
    if (result?.status === 'refused') throw new Error(`refresh ${name}: ${result.message}`);
  }

  async waitFor(name: string, ready: (status: ApplicationStatus) => boolean, timeoutMs = 90_000): Promise<ApplicationStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const last = (await this.application(name).catch(() => ({ metadata: {} }) as { status?: ApplicationStatus })).status ?? {};
      if (ready(last)) return last;
      if (Date.now() > deadline) throw new Error(`Application ${name}: condition not met within ${timeoutMs / 1000} s; status ${JSON.stringify({ sync: last.sync, operationState: last.operationState, conditions: last.conditions })}`);
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
