/**
 * The GitOps loop with the real Argo CD against the local control plane (test/support/argocd.ts):
 * a copy of this repository with dev synced by Argo CD, pointed at a local HTTPS git server,
 * throw-away age keys; the cluster bootstrapped as `npm run bootstrap -- dev` says; the overlay
 * built through the SOPS plugin (the compiled plugin.yaml served by the real argocd-cmp-server,
 * with the pinned sops and kustomize). Then sync, decrypt, change, rotate, self-heal, prune and
 * refuse, each through a push and a hard refresh (what a webhook does; Argo CD polls otherwise).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { Namespaces } from '../../compiler/config/types.ts';
import { ARGOCD } from '../../compiler/facts.ts';
import { bootstrapCommands } from '../../compiler/gitops/bootstrap.ts';
import { objectId, serverSideApply, strategicMergePatch } from '../../compiler/kube/apply.ts';
import type { KubeObject } from '../../compiler/kube/schema.ts';
import { parseYamlDocuments } from '../../compiler/render/yaml.ts';
import type { LocalArgoCD } from '../support/argocd.ts';
import { runCli, runCliOk } from '../support/cli.ts';
import type { StatusReport } from '../../compiler/gitops/status.ts';
import type { LocalCluster } from '../support/cluster.ts';
import { GitOpsRig, lastSyncOperation, syncedCommit } from '../support/gitops-rig.ts';
import type { TempRepo } from '../support/temp-repo.ts';

const ENV = 'dev';
const APP = `stacklight-${ENV}`;
let rig: GitOpsRig;
let cluster: LocalCluster;
let argocd: LocalArgoCD;
let repo: TempRepo;
let namespaces: Namespaces;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const templateHashes = async () => (await rig.rollout()).hashes;

async function configMapData(name: string): Promise<Record<string, string> | undefined> {
  const namespace = name.startsWith('influxdb') || name.startsWith('grafana') ? namespaces.backend : namespaces.collector;
  return (await cluster.kubeConfig.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name, namespace }).catch(() => undefined))?.data;
}

before(async () => {
  rig = await GitOpsRig.start({ environment: ENV, engine: 'argocd' });
  ({ cluster, argocd, repo, namespaces } = rig as Required<GitOpsRig>);
});
after(async () => {
  await rig?.dispose();
});

test('clusters/dev applied as the bootstrap says: the Application syncs every object of the overlay, the Secrets decrypted by the plugin', async () => {
  const revision = await rig.push('first');
  const commit = revision.replace(/^.*@sha1:/, '');
  const started = performance.now();
  const results = await rig.bootstrap();
  assert.deepEqual(results.filter((r) => r.status === 'refused'), []);
  await argocd.refresh(APP);
  const status = await argocd.waitFor(APP, (s) => syncedCommit(s) === commit);
  console.log(`argocd: ${ENV} synced ${((performance.now() - started) / 1000).toFixed(1)} s after the bootstrap apply`);
  const expected = (await rig.overlayObjects()).map(objectId).sort();
  const synced = (status.resources ?? []).map((r) => [r.kind, r.namespace, r.name].filter(Boolean).join('/')).sort();
  assert.deepEqual(synced, expected);
  await rig.assertSecretsSynced();
});

test('the bootstrap\'s repo server patch, merged by the API server into Argo CD\'s own argocd-repo-server, adds the plugin sidecar as it needs to run', async () => {
  const install = parseYamlDocuments(await readFile(join(cluster.build, 'argocd/install.yaml'), 'utf8'), 'install.yaml') as KubeObject[];
  const repoServer = { ...install.find((o) => o?.kind === 'Deployment' && o.metadata?.name === 'argocd-repo-server')!, metadata: { name: 'argocd-repo-server', namespace: ARGOCD.namespace } };
  assert.deepEqual((await serverSideApply(cluster.kubeConfig, [repoServer])).map((r) => r.status), ['applied']);
  const commands = bootstrapCommands({ environment: ENV, config: (await rig.config()), keyFile: rig.keyFile, recipients: [], key: undefined }).split('\n');
  const patchLine = commands.find((line) => line.startsWith('kubectl -n argocd patch deployment argocd-repo-server --type strategic -p '))!;
  const merged = await strategicMergePatch(cluster.kubeConfig, repoServer, JSON.parse(/-p '(.*)'$/.exec(patchLine)![1]!) as object);
  assert.ok(merged.ok, merged.message);
  type Container = { name: string; command?: string[]; volumeMounts: { name: string; mountPath: string }[] };
  type PodSpec = { containers: Container[]; initContainers: { name: string }[]; volumes: { name: string }[] };
  const pod = (merged.body as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
  assert.deepEqual(pod.containers.map((c) => c.name).sort(), ['argocd-repo-server', ARGOCD.plugin.sidecar].sort());
  const sidecar = pod.containers.find((c) => c.name === ARGOCD.plugin.sidecar)!;
  const volumes = new Set(pod.volumes.map((v) => v.name));
  for (const mount of sidecar.volumeMounts) assert.ok(volumes.has(mount.name), `the sidecar mounts ${mount.name}, which the pod lacks`);
  // argocd-cmp-server is the binary Argo CD's own init container (copyutil) puts in var-files
  const varFiles = sidecar.volumeMounts.find((m) => m.name === 'var-files')!;
  assert.equal(sidecar.command?.[0], `${varFiles.mountPath}/argocd-cmp-server`);
  assert.ok(pod.initContainers.some((c) => c.name === 'copyutil'), 'Argo CD\'s copyutil init container is kept');
  // the repo server and the sidecar meet on the plugins volume, where the socket is made
  const repo = pod.containers.find((c) => c.name === 'argocd-repo-server')!;
  assert.equal(sidecar.volumeMounts.find((m) => m.name === 'plugins')?.mountPath, repo.volumeMounts.find((m) => m.name === 'plugins')?.mountPath);
});

test('npm run status reads the Application: synced to the checkout, not healthy (no pod runs here), no drift', async () => {
  const result = await runCli('status.ts', [ENV, '--root', repo.root, '--kubeconfig', cluster.kubeconfigPath, '--json']);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  const report = JSON.parse(result.stdout) as StatusReport;
  assert.equal(report.source.object, `Application/argocd/${APP}`);
  assert.equal(report.source.upToDate, true);
  assert.deepEqual(report.sync.conditions.find((c) => c.type === 'Synced'), { type: 'Synced', status: 'True', reason: 'Synced' });
  assert.equal(report.sync.conditions.find((c) => c.type === 'Healthy')?.status, 'False');
  assert.deepEqual(report.drift, []);
  assert.ok(report.problems.some((p) => /Application Healthy: Progressing/.test(p)), report.problems.join('\n'));
});

test('a config change and a rotation pushed arrive; the rotation rolls the collector and InfluxDB, not Grafana', async () => {
  const file = `config/environments/${ENV}.ts`;
  await repo.write(file, (await repo.read(file)).replace("logLevel: 'info'", "logLevel: 'debug'"));
  const before = await templateHashes();
  const seconds = await rig.syncTo(await rig.compileAndPush('collector log level: debug'));
  console.log(`argocd: a pushed config change synced ${seconds.toFixed(1)} s after the push (hard refresh)`);
  const changed = await templateHashes();
  assert.notEqual(changed['DaemonSet/collector'], before['DaemonSet/collector']);
  assert.equal(changed['Deployment/grafana'], before['Deployment/grafana']);

  const writer = `${namespaces.collector}/influxdb-writer`;
  const oldValue = (await rig.liveSecret(writer))['password'];
  await runCliOk('secrets.ts', ['rotate', ENV, 'influxdb-writer', 'password', '--root', repo.root, '--age-key-file', rig.keyFile]);
  await rig.syncTo(await rig.compileAndPush('rotate the writer password'));
  const live = await rig.liveSecret(writer);
  assert.notEqual(live['password'], oldValue);
  await rig.assertSecretsSynced();
  const rotated = await templateHashes();
  assert.notEqual(rotated['DaemonSet/collector'], changed['DaemonSet/collector']);
  assert.notEqual(rotated['Deployment/influxdb'], changed['Deployment/influxdb']);
  assert.equal(rotated['Deployment/grafana'], changed['Deployment/grafana']);
});

test('a manual edit in the cluster is reverted (self-heal)', async () => {
  const configMap = (await rig.overlayObjects()).find((o) => o.kind === 'ConfigMap')!;
  const name = String(configMap.metadata!.name);
  const [key] = Object.keys(configMap['data'] as Record<string, string>);
  const edit = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: (configMap.metadata as { namespace: string }).namespace }, data: { [key!]: 'edited by hand' } };
  assert.deepEqual((await serverSideApply(cluster.kubeConfig, [edit], { fieldManager: 'kubectl-edit' })).map((r) => r.status), ['applied']);
  const started = performance.now();
  for (let i = 0; i < 150 && (await configMapData(name))?.[key!] === 'edited by hand'; i++) await sleep(200);
  assert.equal((await configMapData(name))?.[key!], (configMap['data'] as Record<string, string>)[key!], 'the edit was not reverted within 30 s');
  console.log(`argocd: a manual edit reverted after ${((performance.now() - started) / 1000).toFixed(1)} s`);
});

test('a broken commit leaves the last good state, and the Application says why', async () => {
  const good = lastSyncOperation((await argocd.application(APP)).status ?? {});
  const before = await templateHashes();
  await repo.write(`overlays/${ENV}/kustomization.yaml`, `${await repo.read(`overlays/${ENV}/kustomization.yaml`)}  - path: patches/missing.yaml\n`);
  await rig.push('a patch that does not exist');
  await argocd.refresh(APP);
  const status = await argocd.waitFor(APP, (s) => (s.conditions ?? []).some((c) => c.type === 'ComparisonError'));
  assert.match((status.conditions ?? []).map((c) => c.message).join('\n'), /missing\.yaml/);
  assert.equal(lastSyncOperation(status), good, 'the last good sync is still the one reported');
  assert.ok(good);
  assert.deepEqual(await templateHashes(), before, 'objects changed by a broken commit');
  await rig.gitIn('revert', '--no-edit', 'HEAD');
  await rig.gitIn('push', '-q', 'origin', 'main');
  await rig.syncTo(`main@sha1:${await rig.gitIn('rev-parse', 'HEAD')}`);
});

test('an object removed from the config is pruned (InfluxDB moved out of the cluster)', async () => {
  assert.ok(await cluster.kubeConfig.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'influxdb', namespace: namespaces.backend }));
  const file = `config/environments/${ENV}.ts`;
  await repo.write(file, (await repo.read(file)).replace(
    /influxdb: \{[\s\S]*?\n {2}\},\n/,
    "influxdb: { enabled: false, url: 'https://influxdb.example.net:8086', database: 'stacklight', retentionPolicy: 'stacklight' },\n",
  ));
  // the bootstrap's credentials go with it: the admin's, and the writer's copy in InfluxDB's namespace
  for (const name of ['influxdb-admin', 'influxdb-writer']) await rm(join(repo.root, 'overlays', ENV, 'secrets', rig.namespaces.backend, `${name}.yaml`));
  await rig.syncTo(await rig.compileAndPush('InfluxDB outside the cluster'));
  const apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
  const exists = () => apps.readNamespacedDeployment({ name: 'influxdb', namespace: namespaces.backend }).then(() => true, () => false);
  for (let i = 0; i < 50 && (await exists()); i++) await sleep(100);
  assert.equal(await exists(), false, 'the InfluxDB Deployment was not pruned');
  assert.equal(await configMapData('influxdb-config'), undefined, 'the InfluxDB ConfigMap was not pruned');
});
