/**
 * A Kubernetes control plane on loopback for the tests: Debian's etcd, kube-apiserver and
 * kube-controller-manager built by test/cluster/build.sh (no kubelet, no scheduler, no container
 * runtime: Deployments and the DaemonSet get Pods, which stay Pending). Certificates and the
 * service-account key are made per run with openssl; the admin's kubeconfig is written beside
 * them. Every process is stopped by its PID (dispose(), or at the test process's end).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { REPO_ROOT } from '../../compiler/tools.ts';
import { makeTempDir, ManagedChild, TempDirOwner } from './child-process.ts';
import { freePort } from './influxdb.ts';

export const CLUSTER_BUILD_COMMAND = 'bash test/cluster/build.sh';
export const ETCD = process.env['ETCD'] ?? '/usr/bin/etcd';

/** The directory test/cluster/build.sh built for the current modules; never builds. */
export function clusterBuild(): string | undefined {
  const result = spawnSync('bash', [path.join(REPO_ROOT, 'test/cluster/build.sh'), '--dir'], { encoding: 'utf8' });
  const dir = result.stdout?.trim(); // no stdout when bash itself is missing
  return result.status === 0 && dir && existsSync(path.join(dir, 'bin/kube-apiserver')) ? dir : undefined;
}

/** The build, or an error naming the command that makes it (`npm run setup` runs it). */
export function requireClusterBuild(): string {
  const dir = clusterBuild();
  if (!dir) throw new Error(`the local control plane is not built: run \`${CLUSTER_BUILD_COMMAND}\` (npm run setup does)`);
  return dir;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function openssl(dir: string, args: string[]): void {
  const result = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}`);
}

/** A CA, the API server's serving certificate, an admin client certificate, the service-account key. */
function makeCertificates(dir: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=stacklight-test-ca']);
  const sign = (name: string, subject: string, extensions: string) => {
    writeFileSync(path.join(dir, `${name}.ext`), extensions);
    openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`]);
  };
  sign('apiserver', '/CN=kube-apiserver', 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n');
  sign('admin', '/O=system:masters/CN=stacklight-test-admin', 'extendedKeyUsage=clientAuth\n');
  openssl(dir, ['genrsa', '-out', 'sa.key', '2048']);
  openssl(dir, ['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
}

/** A program of the control plane, Flux or Argo CD, its output appended to a log file. */
export class Daemon extends ManagedChild {
  static start(name: string, command: string, args: string[], log: string, env: NodeJS.ProcessEnv = process.env): Daemon {
    return new Daemon(name, command, args, { env, logFile: log });
  }
}

export interface ClusterOptions {
  /** Start kube-controller-manager too (Pods, ServiceAccounts); default true. */
  controllerManager?: boolean;
}

export class LocalCluster extends TempDirOwner {
  readonly daemons: Daemon[] = [];
  readonly kubeConfig = new KubeConfig();
  private constructor(dir: string, readonly build: string, readonly server: string) {
    super(dir);
  }

  get kubeconfigPath(): string {
    return path.join(this.dir, 'admin.kubeconfig');
  }

  /** The run's CA: what a client of the API server, or of a test server signed by it, trusts. */
  get caFile(): string {
    return this.file('ca.crt');
  }

  /** A serving certificate for 127.0.0.1 signed by the run's CA (the API server's own). */
  loopbackServingCert(): { cert: Buffer; key: Buffer } {
    return { cert: readFileSync(this.file('apiserver.crt')), key: readFileSync(this.file('apiserver.key')) };
  }

  /** A Secret's data as text, key by key. */
  async secretData(namespace: string, name: string): Promise<Record<string, string>> {
    const secret = await this.kubeConfig.makeApiClient(CoreV1Api).readNamespacedSecret({ name, namespace });
    return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  }

  /** Registers Node objects (no kubelet behind them), so that DaemonSets get their Pods. */
  async addNodes(names: readonly string[], labels: Readonly<Record<string, string>> = {}): Promise<void> {
    const core = this.kubeConfig.makeApiClient(CoreV1Api);
    for (const name of names) {
      await core.createNode({ body: { metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', ...labels } } } });
    }
  }

  static async start(options: ClusterOptions = {}): Promise<LocalCluster> {
    const build = requireClusterBuild();
    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    const cluster = new LocalCluster(await makeTempDir('cluster'), build, `https://127.0.0.1:${apiPort}`);
    try {
      makeCertificates(cluster.dir);
      await cluster.writeKubeconfig();
      cluster.startEtcd(etcdClient, etcdPeer);
      cluster.startApiServer(apiPort, etcdClient);
      await cluster.waitReady();
      if (options.controllerManager !== false) cluster.startControllerManager();
      return cluster;
    } catch (error) {
      const logs = cluster.daemons.map((daemon) => `--- ${daemon.name}:\n${daemon.logTail()}`).join('\n');
      await cluster.dispose();
      throw new Error(`the local control plane did not start: ${(error as Error).message}\n${logs}`, { cause: error });
    }
  }

  private file(name: string): string {
    return path.join(this.dir, name);
  }

  private async writeKubeconfig(): Promise<void> {
    const base64 = async (name: string) => (await readFile(this.file(name))).toString('base64');
    this.kubeConfig.loadFromOptions({
      clusters: [{ name: 'local', server: this.server, caData: await base64('ca.crt') }],
      users: [{ name: 'admin', certData: await base64('admin.crt'), keyData: await base64('admin.key') }],
      contexts: [{ name: 'local', cluster: 'local', user: 'admin' }],
      currentContext: 'local',
    });
    await writeFile(this.kubeconfigPath, this.kubeConfig.exportConfig(), { mode: 0o600 });
  }

  private startEtcd(client: number, peer: number): void {
    const url = (port: number) => `http://127.0.0.1:${port}`;
    this.daemons.push(Daemon.start('etcd', ETCD, [
      '--name', 'test', '--data-dir', this.file('etcd'),
      '--listen-client-urls', url(client), '--advertise-client-urls', url(client),
      '--listen-peer-urls', url(peer), '--initial-advertise-peer-urls', url(peer),
      '--initial-cluster', `test=${url(peer)}`,
    ], this.file('etcd.log')));
  }

  private startApiServer(port: number, etcd: number): void {
    this.daemons.push(Daemon.start('kube-apiserver', path.join(this.build, 'bin/kube-apiserver'), [
      `--etcd-servers=http://127.0.0.1:${etcd}`,
      '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${port}`,
      `--cert-dir=${this.file('apiserver-certs')}`,
      `--tls-cert-file=${this.file('apiserver.crt')}`, `--tls-private-key-file=${this.file('apiserver.key')}`,
      `--client-ca-file=${this.file('ca.crt')}`,
      `--service-account-key-file=${this.file('sa.pub')}`, `--service-account-signing-key-file=${this.file('sa.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      '--authorization-mode=Node,RBAC',
      // PodSecurity is on by default; these are the defaults a kubeadm cluster adds.
      '--enable-admission-plugins=NodeRestriction',
      '--allow-privileged=true',
      // Only an allocation range for Service IPs: nothing is routed here.
      '--service-cluster-ip-range=10.96.0.0/16',
      '--endpoint-reconciler-type=none',
      '--profiling=false',
    ], this.file('kube-apiserver.log')));
  }

  private startControllerManager(): void {
    const kubeconfig = this.kubeconfigPath;
    this.daemons.push(Daemon.start('kube-controller-manager', path.join(this.build, 'bin/kube-controller-manager'), [
      `--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
      `--service-account-private-key-file=${this.file('sa.key')}`, `--root-ca-file=${this.file('ca.crt')}`,
      '--leader-elect=false', '--bind-address=127.0.0.1', '--secure-port=0',
      '--use-service-account-credentials=false',
    ], this.file('kube-controller-manager.log')));
  }

  /** GET a path of the API server as the admin; resolves status and body. */
  request(pathname: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const request = https.get(`${this.server}${pathname}`, {
        ca: readFileSync(this.file('ca.crt')), cert: readFileSync(this.file('admin.crt')), key: readFileSync(this.file('admin.key')),
      }, (response) => {
        let body = '';
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
      request.on('error', reject);
    });
  }

  private async waitReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const dead = this.daemons.find((daemon) => !daemon.running);
      if (dead) throw new Error(`${dead.name} exited`);
      const answer = await this.request('/readyz').catch(() => undefined);
      if (answer?.status === 200) return;
      if (Date.now() > deadline) throw new Error(`/readyz not ok after ${timeoutMs / 1000} s: ${answer?.body ?? 'no answer'}`);
      await sleep(200);
    }
  }

  /** Stops the daemons, the last started first. */
  async stop(graceMs = 5000): Promise<void> {
    for (const daemon of [...this.daemons].reverse()) await daemon.stop(graceMs);
  }
}
