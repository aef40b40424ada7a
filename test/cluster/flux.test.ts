/**
 * The GitOps loop with the real Flux against the local control plane: a copy of this repository
 * (its config pointed at a local HTTPS git server, throw-away age keys) compiled, committed and
 * pushed; the cluster bootstrapped as `npm run bootstrap -- dev` says (the age key Secret, then
 * clusters/dev applied); then apply, decrypt, change, rotate, prune and refuse, each through a
 * push. Pods are created (kube-controller-manager) but never run: no kubelet here.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { Namespaces } from '../../compiler/config/types.ts';
import { FLUX } from '../../compiler/facts.ts';
import type { StatusReport } from '../../compiler/gitops/status.ts';
import { objectId, serverSideApply } from '../../compiler/kube/apply.ts';
import type { KubeObject } from '../../compiler/kube/schema.ts';
import { runCli, runCliOk } from '../support/cli.ts';
import type { LocalCluster } from '../support/cluster.ts';
import { condition, type LocalFlux } from '../support/flux.ts';
import { appliedRevision, GitOpsRig } from '../support/gitops-rig.ts';
import type { TempRepo } from '../support/temp-repo.ts';

const ENV = 'dev';
let rig: GitOpsRig;
let cluster: LocalCluster;
let flux: LocalFlux;
let repo: TempRepo;
let namespaces: Namespaces;
let KUSTOMIZATION: string;

const configMapRef = (object: KubeObject) => ({
  name: String(object.metadata!.name),
  namespace: String((object.metadata as { namespace?: string }).namespace),
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const rollout = () => rig.rollout();

async function exists(object: KubeObject): Promise<boolean> {
  const { kind, metadata } = object as { kind: string; metadata: { name: string; namespace?: string } };
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
  const ns = metadata.namespace!;
  const reads: Record<string, () => Promise<unknown>> = {
    Deployment: () => apps.readNamespacedDeployment({ name: metadata.name, namespace: ns }),
    Service: () => core.readNamespacedService({ name: metadata.name, namespace: ns }),
    ConfigMap: () => core.readNamespacedConfigMap({ name: metadata.name, namespace: ns }),
    PersistentVolumeClaim: () => core.readNamespacedPersistentVolumeClaim({ name: metadata.name, namespace: ns }),
  };
  const read = reads[kind];
  if (!read) throw new Error(`exists(): no reader for ${kind}`);
  return read().then(() => true, () => false);
}

before(async () => {
  // Health checks give up after Flux's floor of 30 s: no pod ever becomes ready here.
  rig = await GitOpsRig.start({ environment: ENV, engine: 'flux', healthCheckTimeout: '30s' });
  ({ cluster, flux, repo, namespaces, kustomization: KUSTOMIZATION } = rig as Required<GitOpsRig>);
});
after(async () => {
  await rig?.dispose();
});

let firstRevision: string;

test('clusters/dev applied as the bootstrap says brings up every object of the overlay, the Secrets decrypted', async () => {
  firstRevision = await rig.push('first');
  const started = performance.now();
  const results = await rig.bootstrap();
  assert.deepEqual(results.filter((r) => r.status === 'refused'), []);
  await flux.waitFor('GitRepository', FLUX.sourceName, (s) => s.artifact?.revision === firstRevision);
  const ready = (performance.now() - started) / 1000;
  await flux.waitFor('Kustomization', KUSTOMIZATION, (s) => appliedRevision(s) === firstRevision);
  const applied = (performance.now() - started) / 1000;
  console.log(`flux: GitRepository ready ${ready.toFixed(1)} s after the bootstrap apply, ${ENV} applied after ${applied.toFixed(1)} s`);

  const status = (await flux.get('Kustomization', KUSTOMIZATION)).status!;
  const expected = (await rig.overlayObjects()).map(objectId).sort();
  const inventory = (status.inventory?.entries ?? []).map((e) => e.id);
  assert.equal(inventory.length, expected.length, `inventory ${inventory.join(', ')} against ${expected.join(', ')}`);
  await rig.assertSecretsSynced();
  const apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
  assert.equal((await apps.listNamespacedDaemonSet({ namespace: namespaces.collector })).items.length, 1);
  assert.equal((await apps.listNamespacedDeployment({ namespace: namespaces.backend })).items.length, 2);
});

async function status(): Promise<{ code: number; report: StatusReport; text: string }> {
  const args = [ENV, '--root', repo.root, '--kubeconfig', cluster.kubeconfigPath];
  const [json, text] = await Promise.all([runCli('status.ts', [...args, '--json']), runCli('status.ts', args)]);
  assert.equal(json.code, text.code, 'the two forms disagree on health');
  assert.ok(json.code === 0 || json.code === 1, `status exited ${json.code}: ${json.stderr}`);
  return { code: json.code, report: JSON.parse(json.stdout) as StatusReport, text: text.stdout };
}

test('npm run status tells the truth about the local cluster: synced, no pod running, then a manual edit as drift', async () => {
  const { code, report, text } = await status();
  assert.equal(code, 1, 'pods never run here: the environment cannot be healthy');
  assert.match(text, /^dev: NOT healthy$/m);
  assert.equal(report.source.upToDate, true);
  assert.equal(report.sync.lastAttemptedRevision, firstRevision);
  assert.deepEqual(report.drift, []);
  const collector = report.workloads.find((w) => w.object.startsWith('DaemonSet/'))!;
  assert.deepEqual([collector.desired, collector.ready, collector.ok], [2, 0, false]);
  assert.deepEqual(report.collectorNodes.map((n) => [n.node, n.phase, n.ready]), [['node-1', 'Pending', false], ['node-2', 'Pending', false]]);
  assert.ok(report.collectorNodes.every((n) => n.pod?.startsWith('collector-')));
  for (const w of report.workloads) assert.equal(w.ok, false, w.object);

  const configMap = (await rig.overlayObjects()).find((o) => o.kind === 'ConfigMap')!;
  const [key] = Object.keys(configMap['data'] as Record<string, string>);
  const edit = { apiVersion: 'v1', kind: 'ConfigMap', metadata: configMapRef(configMap), data: { [key!]: 'edited by hand' } };
  assert.deepEqual((await serverSideApply(cluster.kubeConfig, [edit], { fieldManager: 'kubectl-edit' })).map((r) => r.status), ['applied']);
  const drifted = (await status()).report;
  assert.deepEqual(drifted.drift, [{ object: objectId(configMap), fields: [`.data.${key}`] }]);
  // Flux puts it back on its next reconcile
  await flux.reconcile('Kustomization', KUSTOMIZATION);
  for (let i = 0; i < 100 && (await status()).report.drift.length > 0; i++) await sleep(200);
  assert.deepEqual((await status()).report.drift, []);

  // An in-cluster kustomize-controller without the bootstrap's feature gate is reported
  const gateMissing = /kustomize-controller runs without CancelHealthCheckOnNewRevision/;
  assert.ok(!(await status()).report.problems.some((p) => gateMissing.test(p)), 'no Deployment here: nothing to report');
  const controller = (args: string[]) => ({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'kustomize-controller', namespace: FLUX.namespace },
    spec: { replicas: 0, selector: { matchLabels: { app: 'kc' } }, template: { metadata: { labels: { app: 'kc' } }, spec: { containers: [{ name: 'manager', image: 'example/kc:1', args }] } } },
  });
  await serverSideApply(cluster.kubeConfig, [controller(['--watch-all-namespaces'])]);
  assert.ok((await status()).report.problems.some((p) => gateMissing.test(p)));
  await serverSideApply(cluster.kubeConfig, [controller(['--watch-all-namespaces', `--feature-gates=${FLUX.kustomizeControllerFeatureGates}`])]);
  assert.ok(!(await status()).report.problems.some((p) => gateMissing.test(p)));
});

test('a config change compiled, committed and pushed reaches the cluster', async () => {
  const file = 'config/environments/dev.ts';
  await repo.write(file, (await repo.read(file)).replace("logLevel: 'info'", "logLevel: 'debug'"));
  const before = await rollout();
  // No pod becomes ready here, so a health check runs until the 30 s timeout: start one now, and
  // with the bootstrap's feature gate the new revision must not wait for it.
  await flux.reconcile('Kustomization', KUSTOMIZATION);
  await flux.waitFor('Kustomization', KUSTOMIZATION, (s) => /Running health checks/.test(condition(s, 'Reconciling')?.message ?? ''));
  const revision = await rig.compileAndPush('collector log level: debug');
  const seconds = await rig.syncTo(revision);
  console.log(`flux: a pushed config change applied ${seconds.toFixed(1)} s after the push (reconcile requested, a health check running)`);
  assert.ok(seconds < 10, `the change waited ${seconds} s behind the running health check`);
  const after = await rollout();
  assert.notEqual(after.hashes['DaemonSet/collector'], before.hashes['DaemonSet/collector'], 'the collector did not roll');
  assert.equal(after.hashes['Deployment/grafana'], before.hashes['Deployment/grafana'], 'Grafana rolled for a collector change');
});

/** Rotates one Secret's password, pushes, syncs; returns the workloads whose pod template changed. */
async function rotate(id: string): Promise<string[]> {
  const before = await rollout();
  const oldValue = (await rig.liveSecret(id))['password'];
  await runCliOk('secrets.ts', ['rotate', ENV, id.split('/')[1]!, 'password', '--root', repo.root, '--age-key-file', rig.keyFile]);
  await rig.syncTo(await rig.compileAndPush(`rotate ${id}`));
  const live = await rig.liveSecret(id);
  assert.notEqual(live['password'], oldValue);
  assert.deepEqual(live, await rig.valuesSet(id));
  const after = await rollout();
  for (const [name, count] of Object.entries(before.replicaSets)) {
    const rolled = after.hashes[`Deployment/${name}`] !== before.hashes[`Deployment/${name}`];
    for (let i = 0; i < 50 && rolled && (await rollout()).replicaSets[name] === count; i++) await sleep(100);
    assert.equal((await rollout()).replicaSets[name], count + (rolled ? 1 : 0), `${name}: a new ReplicaSet exactly when its template changed`);
  }
  return Object.keys(after.hashes).filter((workload) => after.hashes[workload] !== before.hashes[workload]).sort();
}

test('a rotation of each Secret changes it in the cluster and rolls exactly the workloads that read it', async () => {
  const { collector, backend } = namespaces;
  // every copy of the writer's password changes: the collector and InfluxDB's bootstrap read it
  assert.deepEqual(await rotate(`${collector}/influxdb-writer`), ['DaemonSet/collector', 'Deployment/influxdb']);
  assert.deepEqual(await rig.liveSecret(`${backend}/influxdb-writer`), await rig.liveSecret(`${collector}/influxdb-writer`), 'the two copies hold one password');
  await rig.assertSecretsSynced();
  assert.deepEqual(await rotate(`${collector}/snap-api`), ['DaemonSet/collector']);
  assert.deepEqual(await rotate(`${backend}/influxdb-admin`), ['Deployment/influxdb']);
  assert.deepEqual(await rotate(`${backend}/influxdb-reader`), ['Deployment/grafana', 'Deployment/influxdb']);
  assert.deepEqual(await rotate(`${backend}/grafana-admin`), ['Deployment/grafana']);
});

test('a broken commit leaves the last good revision applied, and the Kustomization says why', async () => {
  const good = (await flux.get('Kustomization', KUSTOMIZATION)).status!;
  const lastGood = appliedRevision(good);
  const before = await rollout();
  await repo.write(`overlays/${ENV}/kustomization.yaml`, `${await repo.read(`overlays/${ENV}/kustomization.yaml`)}  - path: patches/missing.yaml\n`);
  const broken = await rig.push('a patch that does not exist');
  await flux.reconcile('GitRepository', FLUX.sourceName);
  const status = await flux.waitFor('Kustomization', KUSTOMIZATION, (s) => s.lastAttemptedRevision === broken && condition(s, 'Ready')?.status === 'False');
  assert.match(condition(status, 'Ready')?.message ?? '', /missing\.yaml/);
  assert.equal(condition(status, 'Ready')?.reason, 'BuildFailed');
  assert.deepEqual((await rollout()).hashes, before.hashes, 'objects changed by a broken commit');
  assert.ok(lastGood);
  // and a fix reaches the cluster
  await rig.gitIn('revert', '--no-edit', 'HEAD');
  await rig.gitIn('push', '-q', 'origin', 'main');
  const fixed = `main@sha1:${await rig.gitIn('rev-parse', 'HEAD')}`;
  await rig.syncTo(fixed);
});

test('an object removed from the config is pruned (InfluxDB moved out of the cluster)', async () => {
  const influx = (await rig.overlayObjects()).filter((o) => /^influxdb/.test(String(o.metadata?.name)) && ['Deployment', 'Service', 'ConfigMap'].includes(String(o.kind)));
  assert.ok(influx.some((o) => o.kind === 'Deployment'));
  for (const object of influx) assert.ok(await exists(object), `${objectId(object)} missing before the change`);
  const file = 'config/environments/dev.ts';
  await repo.write(file, (await repo.read(file)).replace(
    /influxdb: \{[\s\S]*?\n {2}\},\n/,
    "influxdb: { enabled: false, url: 'https://influxdb.example.net:8086', database: 'stacklight', retentionPolicy: 'stacklight' },\n",
  ));
  // the bootstrap's credentials go with it: the admin's, and the writer's copy in InfluxDB's namespace
  for (const name of ['influxdb-admin', 'influxdb-writer']) await rm(join(repo.root, 'overlays', ENV, 'secrets', rig.namespaces.backend, `${name}.yaml`));
  const revision = await rig.compileAndPush('InfluxDB outside the cluster');
  await rig.syncTo(revision);
  for (const object of influx) {
    for (let i = 0; i < 50 && (await exists(object)); i++) await sleep(100);
    assert.equal(await exists(object), false, `${objectId(object)} not pruned`);
  }
});
