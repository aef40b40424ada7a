/**
 * The overlays are real kustomize overlays: `kustomize build overlays/<env>` (the pinned
 * kustomize) must give exactly the objects the compiler builds directly from that environment's
 * config, plus the environment label and the encrypted Secrets. Checked for the shipped
 * environments and for a third one that changes images (tag and digest), families, ports, labels
 * and network ranges, serves Grafana over TLS and uses a remote InfluxDB, created as an operator
 * would: one new file, `npm run secrets -- init` and `set` for the certificate.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { build, compile } from '../../compiler/compile.ts';
import { kustomizeBuild } from '../../compiler/kustomize/build.ts';
import { environmentLabels } from '../../compiler/kustomize/overlay.ts';
import { parseYamlDocuments } from '../../compiler/render/yaml.ts';
import type { KubeObject } from '../../compiler/kube/schema.ts';
import type { EnvironmentBuild } from '../../compiler/kustomize/overlay.ts';
import { tempRepo, type TempRepo } from '../support/temp-repo.ts';
import { runCliOk } from '../support/cli.ts';

const STAGING = `import type { EnvironmentOverrides } from '../../compiler/config/types.ts';

export const overrides: EnvironmentOverrides = {
  labels: { team: 'platform' },
  images: {
    snap: { tag: '0.2.0' },
    grafana: { digest: 'sha256:${'ab'.repeat(32)}' },
  },
  collector: { interval: '30s', families: ['cpu', 'meminfo', 'load', 'smart'], hekaPort: 5566 },
  influxdb: { enabled: false, url: 'https://influxdb.example.net:8086', database: 'metrics', retentionPolicy: 'autogen' },
  grafana: { nodePort: 30400, tls: { enabled: true, secret: 'grafana-tls', domain: 'grafana.staging.example.net' } },
  networkPolicy: {
    type: 'cluster',
    nodeCidrs: ['192.168.0.0/24'],
    podCidrs: ['10.42.0.0/16'],
    grafanaClientCidrs: ['192.168.10.0/24'],
    reason: 'the staging cluster: nodes on 192.168.0.0/24, k3s pods, operators on the VPN',
  },
};
`;

const key = (object: KubeObject & { metadata?: { namespace?: unknown } }) =>
  [object.kind, object.metadata?.namespace, object.metadata?.name].filter(Boolean).map(String).join('/');

/** What kustomize must produce for an environment, computed without kustomize. */
function expectedObjects(env: EnvironmentBuild): Map<string, unknown> {
  const labels = environmentLabels(env.name);
  const expected = new Map<string, unknown>();
  for (const original of env.objects) {
    type Labelled = { metadata: { labels?: object }; spec?: { template?: { metadata?: { labels?: object } } } };
    const object = structuredClone(original) as KubeObject & Labelled;
    object.metadata.labels = { ...object.metadata.labels, ...labels };
    if (object.spec?.template?.metadata) object.spec.template.metadata.labels = { ...object.spec.template.metadata.labels, ...labels };
    expected.set(key(object), JSON.parse(JSON.stringify(object)));
  }
  for (const secret of env.secrets) {
    const [object] = parseYamlDocuments(secret.text, secret.file) as [KubeObject & { metadata: Record<string, unknown> }];
    object.metadata = { ...object.metadata, labels: labels };
    expected.set(key(object), object);
  }
  return expected;
}

async function assertOverlayMatches(repo: TempRepo, env: EnvironmentBuild): Promise<void> {
  const built = await kustomizeBuild(join(repo.root, 'overlays', env.name));
  const actual = new Map(built.map((object) => [key(object), object]));
  const expected = expectedObjects(env);
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort(), `${env.name}: objects differ`);
  for (const [id, object] of expected) assert.deepEqual(actual.get(id), object, `${env.name}: ${id} differs`);
}

let repo: TempRepo;
before(async () => {
  repo = await tempRepo();
});
after(async () => {
  await repo.remove();
});

test('each shipped overlay builds to exactly its environment\'s objects', async () => {
  await compile({ root: repo.root });
  const compiled = await build({ root: repo.root });
  assert.deepEqual(compiled.environments.map((env) => env.name), ['dev', 'prod']);
  for (const env of compiled.environments) await assertOverlayMatches(repo, env);
});

test('base builds to exactly the defaults\' objects', async () => {
  const compiled = await build({ root: repo.root });
  const built = await kustomizeBuild(join(repo.root, 'base'));
  assert.deepEqual(
    new Map(built.map((object) => [key(object), object])),
    new Map(compiled.base.map((object) => [key(object as KubeObject), JSON.parse(JSON.stringify(object))])),
  );
});

test('a new environment is one file plus its Secrets, and its overlay builds to its objects', async () => {
  await repo.write('config/environments/staging.ts', STAGING);
  const secrets = ['--root', repo.root, '--age-key-file', join(repo.root, 'keys.txt')];
  const { stdout: init } = await runCliOk('secrets.ts', ['init', 'staging', ...secrets]);
  // the certificate is the operator's to set: init says how, and the compile names what is missing
  assert.match(init, /set tls\.crt \(Grafana's TLS certificate\) with: npm run secrets -- set staging grafana-tls tls\.crt < <file>/);
  await assert.rejects(compile({ root: repo.root }), /staging\.grafana\.tls: Secret "stacklight\/grafana-tls" \(Grafana's TLS certificate\) does not exist/);
  await runCliOk('secrets.ts', ['set', 'staging', 'grafana-tls', 'tls.crt', ...secrets], '-----BEGIN CERTIFICATE-----\nnot checked here\n');
  await runCliOk('secrets.ts', ['set', 'staging', 'grafana-tls', 'tls.key', ...secrets], '-----BEGIN PRIVATE KEY-----\nnot checked here\n');
  const { compiled, report } = await compile({ root: repo.root });
  assert.ok(report.written.includes('overlays/staging/kustomization.yaml'));
  const staging = compiled.environments.find((env) => env.name === 'staging')!;
  // A remote InfluxDB needs no admin, no writer in the backend's namespace and no in-cluster InfluxDB objects.
  assert.deepEqual(staging.secrets.map((secret) => `${secret.namespace}/${secret.name}`), [
    'stacklight-collector/influxdb-writer',
    'stacklight-collector/snap-api',
    'stacklight/grafana-admin',
    'stacklight/grafana-tls',
    'stacklight/influxdb-reader',
  ]);
  assert.equal(staging.objects.filter((object) => object.metadata.name.startsWith('influxdb')).length, 0);
  const kustomization = await repo.read('overlays/staging/kustomization.yaml');
  assert.doesNotMatch(kustomization, /^namespace:/m);
  assert.match(kustomization, /newTag: 0\.2\.0/);
  assert.match(kustomization, /digest: sha256:(ab){32}/);
  assert.match(kustomization, /delete-deployment-influxdb\.yaml/);
  await assertOverlayMatches(repo, staging);
});
