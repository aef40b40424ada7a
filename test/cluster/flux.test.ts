/**
 * The GitOps loop with the real Flux against the local control plane: a copy of this repository
 * (its config pointed at a local HTTPS git server, throw-away age keys) compiled, committed and
 * pushed; the cluster bootstrapped as `npm run bootstrap -- dev` says (the age key Secret, then
 * clusters/dev applied); then apply, decrypt, change, rotate, prune and refuse, each through a
 * push. Pods are created (kube-controller-manager) but never run: no kubelet here.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { $ } from 'zx';
import { compile } from '../../compiler/compile.ts';
import { FLUX } from '../../compiler/facts.ts';
import { findAgeKeyLine } from '../../compiler/gitops/bootstrap.ts';
import { serverSideApply, objectId } from '../../compiler/kube/apply.ts';
import type { KubeObject } from '../../compiler/kube/schema.ts';
import { kustomizeBuild } from '../../compiler/kustomize/build.ts';
import { parseYamlDocuments } from '../../compiler/render/yaml.ts';
import { decrypt } from '../../compiler/secrets/sops.ts';
import { recipients } from '../../compiler/secrets/sops-config.ts';
import type { StatusReport } from '../../compiler/gitops/status.ts';
import { LocalCluster } from '../support/cluster.ts';
import { condition, LocalFlux, type FluxStatus } from '../support/flux.ts';
import { GitServer } from '../support/git-server.ts';
import { runCli, runCliOk } from '../support/cli.ts';
import { tempRepo, type TempRepo } from '../support/temp-repo.ts';

const ENV = 'dev';
const KUSTOMIZATION = `stacklight-${ENV}`;
let cluster: LocalCluster;
let flux: LocalFlux;
let git: GitServer;
let repo: TempRepo;
let keyFile: string;
let namespace: string;

const quiet = { quiet: true, verbose: false } as const;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function gitIn(...args: string[]): Promise<string> {
  const env = { ...process.env, GIT_SSL_CAINFO: cluster.caFile, GIT_AUTHOR_NAME: 'test', GIT_AUTHOR_EMAIL: 'test@example.invalid', GIT_COMMITTER_NAME: 'test', GIT_COMMITTER_EMAIL: 'test@example.invalid' };
  return (await $({ ...quiet, cwd: repo.root, env })`git ${args}`).stdout.trim();
}

/** Compiles, commits everything and pushes; the pushed revision as Flux names it. */
async function compileAndPush(message: string): Promise<string> {
  await compile({ root: repo.root });
  return push(message);
}

async function push(message: string): Promise<string> {
  await gitIn('add', '-A');
  await gitIn('commit', '-q', '--allow-empty', '-m', message);
  await gitIn('push', '-q', 'origin', 'main');
  return `main@sha1:${await gitIn('rev-parse', 'HEAD')}`;
}

/** The revision whose objects the Kustomization has applied (health checks may still run, or have failed: no pod runs here). */
function appliedRevision(status: FluxStatus): string | undefined {
  if (condition(status, 'Ready')?.status === 'True') return status.lastAppliedRevision;
  const progress = [condition(status, 'Reconciling')?.message, condition(status, 'Healthy')?.message, condition(status, 'Ready')?.message];
  const checking = progress.map((m) => m?.match(/health checks for revision (\S+)/)?.[1]).find(Boolean);
  if (checking) return checking;
  if (condition(status, 'Ready')?.reason === 'HealthCheckFailed') return status.lastAttemptedRevision;
  return undefined;
}

/** Asks Flux to fetch now and waits until `revision` is applied; returns the seconds from push to applied. */
async function syncTo(revision: string, timeoutMs = 60_000): Promise<number> {
  const started = performance.now();
  await flux.reconcile('GitRepository', FLUX.sourceName);
  await flux.waitFor('GitRepository', FLUX.sourceName, (s) => s.artifact?.revision === revision, timeoutMs);
  await flux.waitFor('Kustomization', KUSTOMIZATION, (s) => appliedRevision(s) === revision, timeoutMs);
  return (performance.now() - started) / 1000;
}

async function overlayObjects(): Promise<KubeObject[]> {
  return kustomizeBuild(join(repo.root, 'overlays', ENV));
}

async function liveSecret(name: string): Promise<Record<string, string>> {
  const secret = await cluster.kubeConfig.makeApiClient(CoreV1Api).readNamespacedSecret({ name, namespace });
  return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

async function valuesSet(name: string): Promise<Record<string, string>> {
  const [secret] = parseYamlDocuments(await decrypt(repo.root, `overlays/${ENV}/secrets/${name}.yaml`, keyFile), name) as [{ stringData: Record<string, string> }];
  return secret.stringData;
}

/** The pod template's config-hash annotation of each workload, and the ReplicaSets of each Deployment. */
async function rollout(): Promise<{ hashes: Record<string, string | undefined>; replicaSets: Record<string, number> }> {
  const apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
  const hashes: Record<string, string | undefined> = {};
  const replicaSets: Record<string, number> = {};
  for (const ds of (await apps.listNamespacedDaemonSet({ namespace })).items) {
    hashes[`DaemonSet/${ds.metadata!.name}`] = ds.spec!.template.metadata?.annotations?.['stacklight.ms/config-hash'];
  }
  const sets = (await apps.listNamespacedReplicaSet({ namespace })).items;
  for (const d of (await apps.listNamespacedDeployment({ namespace })).items) {
    const name = d.metadata!.name!;
    hashes[`Deployment/${name}`] = d.spec!.template.metadata?.annotations?.['stacklight.ms/config-hash'];
    replicaSets[name] = sets.filter((rs) => rs.metadata?.ownerReferences?.some((o) => o.name === name)).length;
  }
  return { hashes, replicaSets };
}

async function exists(object: KubeObject): Promise<boolean> {
  const { kind, metadata } = object as { kind: string; metadata: { name: string; namespace?: string } };
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
  const ns = metadata.namespace ?? namespace;
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
  cluster = await LocalCluster.start();
  git = await GitServer.start(join(cluster.dir, 'git'), cluster.loopbackServingCert());
  repo = await tempRepo({ secrets: false });
  flux = await LocalFlux.start(cluster);
  await cluster.addNodes(['node-1', 'node-2']);
  keyFile = join(repo.root, 'keys.txt');
  await git.create('stacklight');
  // The copy pulls from the local server and gives up on health after Flux's floor of 30 s.
  const stackFile = 'config/stack.ts';
  const stack = await repo.read(stackFile);
  const pointed = stack.replace(/url: 'https:\/\/github\.com\/[^']+'/, `url: '${git.url('stacklight')}'`).replace(/healthCheckTimeout: '[^']+'/, "healthCheckTimeout: '30s'");
  assert.notEqual(pointed, stack, 'the repository URL was not found in config/stack.ts');
  await repo.write(stackFile, pointed);
  for (const environment of ['dev', 'prod']) {
    await runCliOk('secrets.ts', ['init', environment, '--root', repo.root, '--age-key-file', keyFile]);
  }
  await repo.write('.gitignore', 'keys.txt\n');
  await gitIn('init', '-q', '-b', 'main');
  await gitIn('remote', 'add', 'origin', git.url('stacklight'));
  await compile({ root: repo.root });
  namespace = objectId((await overlayObjects()).find((o) => o.kind === 'DaemonSet')!).split('/')[1]!;
});
after(async () => {
  await flux?.dispose();
  await git?.dispose();
  await cluster?.dispose();
  await repo?.remove();
});

let firstRevision: string;

test('clusters/dev applied as the bootstrap says brings up every object of the overlay, the Secrets decrypted', async () => {
  firstRevision = await push('first');
  // Bootstrap step 2: the age key, straight from the key file into the Secret.
  const key = await findAgeKeyLine(keyFile, await recipients(repo.root, ENV));
  assert.ok(key, 'the run\'s key file holds no dev key');
  const line = (await repo.read('keys.txt')).split('\n')[key.line - 1]!;
  const ageSecret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: FLUX.decryptionSecret, namespace: FLUX.namespace }, stringData: { [FLUX.ageKeyFile]: line } };
  // Bootstrap step 3: kubectl apply -k clusters/dev.
  const bootstrap = [ageSecret, ...(await kustomizeBuild(join(repo.root, 'clusters', ENV)))];
  const started = performance.now();
  const results = await serverSideApply(cluster.kubeConfig, bootstrap);
  assert.deepEqual(results.filter((r) => r.status === 'refused'), []);
  await flux.waitFor('GitRepository', FLUX.sourceName, (s) => s.artifact?.revision === firstRevision);
  const ready = (performance.now() - started) / 1000;
  await flux.waitFor('Kustomization', KUSTOMIZATION, (s) => appliedRevision(s) === firstRevision);
  const applied = (performance.now() - started) / 1000;
  console.log(`flux: GitRepository ready ${ready.toFixed(1)} s after the bootstrap apply, ${ENV} applied after ${applied.toFixed(1)} s`);

  const status = (await flux.get('Kustomization', KUSTOMIZATION)).status!;
  const expected = (await overlayObjects()).map(objectId).sort();
  const inventory = (status.inventory?.entries ?? []).map((e) => e.id);
  assert.equal(inventory.length, expected.length, `inventory ${inventory.join(', ')} against ${expected.join(', ')}`);
  for (const object of await overlayObjects()) {
    if (object.kind === 'Secret') assert.deepEqual(await liveSecret(String(object.metadata?.name)), await valuesSet(String(object.metadata?.name)));
  }
  const apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
  assert.ok((await apps.listNamespacedDaemonSet({ namespace })).items.length === 1);
  assert.equal((await apps.listNamespacedDeployment({ namespace })).items.length, 2);
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

  const configMap = (await overlayObjects()).find((o) => o.kind === 'ConfigMap')!;
  const [key] = Object.keys(configMap['data'] as Record<string, string>);
  const edit = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: configMap.metadata!.name, namespace }, data: { [key!]: 'edited by hand' } };
  assert.deepEqual((await serverSideApply(cluster.kubeConfig, [edit], { fieldManager: 'kubectl-edit' })).map((r) => r.status), ['applied']);
  const drifted = (await status()).report;
  assert.deepEqual(drifted.drift, [{ object: objectId(configMap), fields: [`.data.${key}`] }]);
  // Flux puts it back on its next reconcile
  await flux.reconcile('Kustomization', KUSTOMIZATION);
  for (let i = 0; i < 100 && (await status()).report.drift.length > 0; i++) await sleep(200);
  assert.deepEqual((await status()).report.drift, []);
});

test('a config change compiled, committed and pushed reaches the cluster', async () => {
  const file = 'config/environments/dev.ts';
  await repo.write(file, (await repo.read(file)).replace("logLevel: 'info'", "logLevel: 'debug'"));
  const before = await rollout();
  const revision = await compileAndPush('collector log level: debug');
  const seconds = await syncTo(revision);
  console.log(`flux: a pushed config change applied ${seconds.toFixed(1)} s after the push (reconcile requested)`);
  const after = await rollout();
  assert.notEqual(after.hashes['DaemonSet/collector'], before.hashes['DaemonSet/collector'], 'the collector did not roll');
  assert.equal(after.hashes['Deployment/grafana'], before.hashes['Deployment/grafana'], 'Grafana rolled for a collector change');
});

test('a rotation changes the Secret and rolls exactly the pods whose hash changed', async () => {
  const before = await rollout();
  const oldValue = (await liveSecret('influxdb-writer'))['password'];
  await runCliOk('secrets.ts', ['rotate', ENV, 'influxdb-writer', 'password', '--root', repo.root, '--age-key-file', keyFile]);
  const revision = await compileAndPush('rotate the writer password');
  await syncTo(revision);
  const live = await liveSecret('influxdb-writer');
  assert.notEqual(live['password'], oldValue);
  assert.deepEqual(live, await valuesSet('influxdb-writer'));
  for (let i = 0; i < 50 && (await rollout()).replicaSets['influxdb'] === before.replicaSets['influxdb']; i++) await sleep(100);
  const after = await rollout();
  // The writer's password is read by the collector and InfluxDB, not by Grafana.
  assert.notEqual(after.hashes['DaemonSet/collector'], before.hashes['DaemonSet/collector']);
  assert.notEqual(after.hashes['Deployment/influxdb'], before.hashes['Deployment/influxdb']);
  assert.equal(after.hashes['Deployment/grafana'], before.hashes['Deployment/grafana']);
  assert.equal(after.replicaSets['influxdb'], before.replicaSets['influxdb']! + 1, 'InfluxDB did not get a new ReplicaSet');
  assert.equal(after.replicaSets['grafana'], before.replicaSets['grafana'], 'Grafana got a new ReplicaSet');
});

test('a broken commit leaves the last good revision applied, and the Kustomization says why', async () => {
  const good = (await flux.get('Kustomization', KUSTOMIZATION)).status!;
  const lastGood = appliedRevision(good);
  const before = await rollout();
  await repo.write(`overlays/${ENV}/kustomization.yaml`, `${await repo.read(`overlays/${ENV}/kustomization.yaml`)}  - path: patches/missing.yaml\n`);
  const broken = await push('a patch that does not exist');
  await flux.reconcile('GitRepository', FLUX.sourceName);
  const status = await flux.waitFor('Kustomization', KUSTOMIZATION, (s) => s.lastAttemptedRevision === broken && condition(s, 'Ready')?.status === 'False');
  assert.match(condition(status, 'Ready')?.message ?? '', /missing\.yaml/);
  assert.equal(condition(status, 'Ready')?.reason, 'BuildFailed');
  assert.deepEqual((await rollout()).hashes, before.hashes, 'objects changed by a broken commit');
  assert.ok(lastGood);
  // and a fix reaches the cluster
  await gitIn('revert', '--no-edit', 'HEAD');
  await gitIn('push', '-q', 'origin', 'main');
  const fixed = `main@sha1:${await gitIn('rev-parse', 'HEAD')}`;
  await syncTo(fixed);
});

test('an object removed from the config is pruned (InfluxDB moved out of the cluster)', async () => {
  const influx = (await overlayObjects()).filter((o) => /^influxdb/.test(String(o.metadata?.name)) && ['Deployment', 'Service', 'ConfigMap'].includes(String(o.kind)));
  assert.ok(influx.some((o) => o.kind === 'Deployment'));
  for (const object of influx) assert.ok(await exists(object), `${objectId(object)} missing before the change`);
  const file = 'config/environments/dev.ts';
  await repo.write(file, (await repo.read(file)).replace(
    /influxdb: \{[\s\S]*?\n {2}\},\n/,
    "influxdb: { enabled: false, url: 'https://influxdb.example.net:8086', database: 'stacklight', retentionPolicy: 'stacklight' },\n",
  ));
  await $(quiet)`rm -f ${join(repo.root, 'overlays', ENV, 'secrets', 'influxdb-admin.yaml')}`;
  const revision = await compileAndPush('InfluxDB outside the cluster');
  await syncTo(revision);
  for (const object of influx) {
    for (let i = 0; i < 50 && (await exists(object)); i++) await sleep(100);
    assert.equal(await exists(object), false, `${objectId(object)} not pruned`);
  }
});
