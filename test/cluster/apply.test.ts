/**
 * Every compiled overlay applied server-side to a real control plane (test/support/cluster.ts:
 * etcd, kube-apiserver, kube-controller-manager), its Secrets decrypted first as Flux does, with
 * throw-away age keys made for this run; and `npm run validate -- --server` against it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { compile } from '../../compiler/compile.ts';
import { CoreV1Api } from '@kubernetes/client-node';
import { environmentConfig } from '../../compiler/config/load.ts';
import { objectId, serverSideApply, type ApplyResult } from '../../compiler/kube/apply.ts';
import type { KubeObject } from '../../compiler/kube/schema.ts';
import { kustomizeBuild } from '../../compiler/kustomize/build.ts';
import { parseYamlDocuments, toYaml } from '../../compiler/render/yaml.ts';
import { decryptText } from '../../compiler/secrets/sops.ts';
import { secretValuesSet } from '../support/gitops-rig.ts';
import { LocalCluster } from '../support/cluster.ts';
import { runCli, runCliOk } from '../support/cli.ts';
import { tempRepo, type TempRepo } from '../support/temp-repo.ts';

const ENVIRONMENTS = ['dev', 'prod'] as const;
let cluster: LocalCluster;
let repo: TempRepo;
let keyFile: string;

before(async () => {
  [cluster, repo] = await Promise.all([LocalCluster.start(), tempRepo({ secrets: false })]);
  keyFile = join(repo.root, 'keys.txt');
  for (const environment of ENVIRONMENTS) {
    await runCliOk('secrets.ts', ['init', environment, '--root', repo.root, '--age-key-file', keyFile]);
  }
  await compile({ root: repo.root });
});
after(async () => {
  await cluster?.dispose();
  await repo?.remove();
});

/** The overlay as kustomize builds it, each encrypted Secret decrypted (kustomize-controller's order). */
async function decryptedOverlay(environment: string): Promise<KubeObject[]> {
  const objects = await kustomizeBuild(join(repo.root, 'overlays', environment));
  return Promise.all(objects.map(async (object) => {
    if (object.kind !== 'Secret' || !('sops' in object)) return object;
    return parseYamlDocuments(await decryptText(repo.root, toYaml(object), keyFile), 'secret')[0] as KubeObject;
  }));
}

function refusals(results: readonly ApplyResult[]): string[] {
  return results.filter((r) => r.status === 'refused' || r.status === 'skipped').map((r) => `${r.object}: ${r.message}`);
}

for (const environment of ENVIRONMENTS) {
  test(`overlays/${environment} applies server-side, every object accepted, Secrets holding the values npm run secrets set`, async () => {
    const objects = await decryptedOverlay(environment);
    const results = await serverSideApply(cluster.kubeConfig, objects);
    assert.deepEqual(refusals(results), []);
    assert.equal(results.length, objects.length);
    const secrets = objects.filter((object) => object.kind === 'Secret');
    assert.ok(secrets.length >= 3, `only ${secrets.length} Secrets in overlays/${environment}`);
    for (const secret of secrets) {
      const { name, namespace } = secret.metadata as { name: string; namespace: string };
      assert.deepEqual(await cluster.secretData(namespace, name), await secretValuesSet(repo.root, environment, `${namespace}/${name}`, keyFile), `${namespace}/${name}`);
    }
  });

  test(`overlays/${environment}: Pod Security enforced per namespace, every workload's pods admitted where they belong, the collector's refused under restricted`, async () => {
    const objects = await kustomizeBuild(join(repo.root, 'overlays', environment));
    const config = await environmentConfig(join(repo.root, 'config'), environment);
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    // the namespaces as the overlay left them in the server
    for (const [namespace, level] of [[config.namespaces.collector, 'privileged'], [config.namespaces.backend, 'restricted']] as const) {
      const labels = (await core.readNamespace({ name: namespace })).metadata?.labels ?? {};
      assert.equal(labels['pod-security.kubernetes.io/enforce'], level, namespace);
    }
    const workloads = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet');
    assert.deepEqual(workloads.map((w) => String(w.metadata?.name)).sort(), ['collector', 'grafana', 'influxdb']);
    for (const workload of workloads) {
      const namespace = String((workload.metadata as { namespace: string }).namespace);
      const result = await admitted(workload, namespace);
      assert.equal(result.status, 'applied', `${objectId(workload)}: ${result.message}`);
      assert.deepEqual(result.warnings, [], `${objectId(workload)} warned`);
    }
    // the collector's pod is exactly what restricted exists to refuse
    const collector = workloads.find((w) => w.kind === 'DaemonSet')!;
    const refused = await admitted(collector, config.namespaces.backend);
    assert.equal(refused.status, 'refused');
    assert.match(refused.message ?? '', /violates PodSecurity "restricted:latest": host namespaces \(hostNetwork=true\)/);
    // and the pods the Deployment controller makes are admitted too (a refused one leaves a FailedCreate on its ReplicaSet)
    for (const name of ['grafana', 'influxdb']) {
      const selector = `app.kubernetes.io/name=${name}`;
      let pods = 0;
      for (let i = 0; i < 100 && pods === 0; i++) {
        pods = (await core.listNamespacedPod({ namespace: config.namespaces.backend, labelSelector: selector })).items.length;
        if (pods === 0) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(pods, 1, `${name}: the ReplicaSet made no pod in ${config.namespaces.backend}`);
    }
  });
}

/** The pod a workload's template makes, in `namespace`. */
function podOf(workload: KubeObject, namespace: string): KubeObject {
  const template = (workload['spec'] as { template: { metadata?: object; spec: object } }).template;
  return { apiVersion: 'v1', kind: 'Pod', metadata: { ...template.metadata, name: `${String(workload.metadata?.name)}-check`, namespace } as KubeObject['metadata'], spec: template.spec };
}

/** Whether the server admits that pod in `namespace` (a dry run: admission runs, nothing is stored). */
async function admitted(workload: KubeObject, namespace: string): Promise<ApplyResult> {
  const [result] = await serverSideApply(cluster.kubeConfig, [podOf(workload, namespace)], { dryRun: true });
  return result!;
}

test("a namespace that only warns at restricted returns the server's warning intact", async () => {
  const warnOnly = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'psa-warn', labels: { 'pod-security.kubernetes.io/warn': 'restricted' } } };
  assert.deepEqual((await serverSideApply(cluster.kubeConfig, [warnOnly])).map((r) => r.status), ['applied']);
  const collector = (await kustomizeBuild(join(repo.root, 'overlays/dev'))).find((w) => w.kind === 'DaemonSet')!;
  const warned = await admitted(collector, 'psa-warn');
  assert.equal(warned.status, 'applied');
  assert.equal(warned.warnings.length, 1, warned.warnings.join(' | '));
  assert.match(warned.warnings[0]!, /^would violate PodSecurity "restricted:latest": host namespaces \(hostNetwork=true\)/);
});

test('the encrypted Secrets as committed are refused by the server: decryption before the apply is needed', async () => {
  const objects = await kustomizeBuild(join(repo.root, 'overlays/dev'));
  const encrypted = objects.filter((object) => object.kind === 'Secret' && 'sops' in object);
  assert.ok(encrypted.length > 0);
  const results = await serverSideApply(cluster.kubeConfig, encrypted, { dryRun: true });
  for (const result of results) {
    assert.equal(result.status, 'refused', result.object);
    assert.match(result.message ?? '', /sops/);
  }
});

test('validate --server: the compiled output passes a dry run, a field the schema lacks is refused', async () => {
  const ok = await runCli('validate.ts', ['--root', repo.root, '--server', '--kubeconfig', cluster.kubeconfigPath]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /^ok {3}overlays\/dev \(server dry run\): \d+ accepted/m);
  assert.match(ok.stdout, /^ok {3}overlays\/prod \(server dry run\)/m);

  const broken = await tempRepo({ secrets: false });
  try {
    await runCliOk('secrets.ts', ['init', 'dev', '--root', broken.root, '--age-key-file', join(broken.root, 'keys.txt')]);
    await runCliOk('secrets.ts', ['init', 'prod', '--root', broken.root, '--age-key-file', join(broken.root, 'keys.txt')]);
    await compile({ root: broken.root });
    const patch = 'overlays/dev/patches/deployment-grafana.yaml';
    await broken.write(patch, `${await broken.read(patch)}- op: add\n  path: /spec/replicaz\n  value: 2\n`);
    const result = await runCli('validate.ts', ['--root', broken.root, '--server', '--kubeconfig', cluster.kubeconfigPath]);
    assert.notEqual(result.code, 0);
    assert.match(result.stdout, /^FAIL overlays\/dev \(server dry run\)/m);
    assert.match(result.stdout, /refused: Deployment\/stacklight\/grafana: .*replicaz/);
  } finally {
    await broken.remove();
  }
});
