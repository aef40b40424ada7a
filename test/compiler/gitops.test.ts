/**
 * clusters/<env>/ and the engine switch: the Flux and Argo CD objects validate against their
 * schemas (and a broken one does not); switching an environment to Argo CD changes its clusters/
 * objects only (the SOPS plugin builds the same overlay); `npm run bootstrap`
 * prints the exact commands, pointing at the environment's key without printing it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stack } from '../../config/stack.ts';
import type { StackConfig } from '../../compiler/config/types.ts';
import { ARGOCD } from '../../compiler/facts.ts';
import { gitopsObjects } from '../../compiler/gitops/index.ts';
import { REPO_ROOT } from '../../compiler/tools.ts';
import { bootstrapCommands } from '../../compiler/gitops/bootstrap.ts';
import { schemaProblems, type KubeObject } from '../../compiler/kube/schema.ts';
import { compile } from '../../compiler/compile.ts';
import { parseYamlDocuments } from '../../compiler/render/yaml.ts';
import { tempRepo, type TempRepo } from '../support/temp-repo.ts';
import { runCliOk } from '../support/cli.ts';

function withEngine(engine: 'flux' | 'argocd'): StackConfig {
  const config = structuredClone(stack) as StackConfig;
  config.gitops.engine = engine;
  return config;
}

const key = (object: KubeObject) => `${String(object.kind)}/${String(object.metadata?.name)}`;

let repo: TempRepo;
before(async () => {
  repo = await tempRepo({ secrets: false });
  for (const env of ['prod', 'dev']) await runCliOk('secrets.ts', ['init', env, '--root', repo.root, '--age-key-file', join(repo.root, 'keys.txt')]);
});
after(async () => {
  await repo.remove();
});

test('the Flux and Argo CD objects validate against their schemas', async () => {
  for (const engine of ['flux', 'argocd'] as const) {
    const objects = gitopsObjects('prod', withEngine(engine)) as unknown as KubeObject[];
    assert.deepEqual(objects.map(key), engine === 'flux' ? ['GitRepository/stacklight', 'Kustomization/stacklight-prod'] : ['AppProject/stacklight', 'Application/stacklight-prod', 'ConfigMap/stacklight-sops-plugin']);
    for (const object of objects) assert.deepEqual(await schemaProblems(object), [], `${engine} ${key(object)}`);
  }
});

test('a broken Flux Kustomization fails its schema', async () => {
  const [, kustomization] = gitopsObjects('prod', withEngine('flux')) as unknown as KubeObject[];
  const broken = structuredClone(kustomization!) as KubeObject & { spec: Record<string, unknown> };
  delete broken.spec.sourceRef;
  broken.spec.prune = 'yes';
  const problems = await schemaProblems(broken);
  assert.ok(problems.some((problem) => problem.includes('sourceRef')), problems.join('\n'));
  assert.ok(problems.some((problem) => problem.includes('prune must be boolean')), problems.join('\n'));
});

test('Flux prunes, checks the workloads\' health and decrypts with the sops-age Secret', () => {
  type KustomizationSpec = { path: string; prune: boolean; decryption: unknown; healthChecks: { kind: string; name: string }[] };
  const [, kustomization] = gitopsObjects('prod', withEngine('flux')) as unknown as { spec: KustomizationSpec }[];
  const spec = kustomization!.spec;
  assert.equal(spec.path, './overlays/prod');
  assert.equal(spec.prune, true);
  assert.deepEqual(spec.decryption, { provider: 'sops', secretRef: { name: 'sops-age' } });
  assert.deepEqual(spec.healthChecks.map((check) => `${check.kind}/${check.name}`), ['DaemonSet/collector', 'Deployment/influxdb', 'Deployment/grafana']);
});

test('switching an environment to Argo CD changes its clusters/ objects only: the overlay is the same, built through the SOPS plugin', async () => {
  await compile({ root: repo.root });
  const overlayBefore = await repo.read('overlays/prod/kustomization.yaml');
  const prodFile = join(repo.root, 'config/environments/prod.ts');
  const original = await readFile(prodFile, 'utf8');
  await writeFile(prodFile, original.replace('export const overrides: EnvironmentOverrides = {', "export const overrides: EnvironmentOverrides = {\n  gitops: { engine: 'argocd' },"));
  try {
    const { report } = await compile({ root: repo.root });
    assert.deepEqual(report.changed.filter((file) => !file.startsWith('clusters/')), []);
    assert.deepEqual(report.written.filter((file) => !file.startsWith('clusters/')), []);
    assert.equal(await repo.read('overlays/prod/kustomization.yaml'), overlayBefore);
    assert.ok(report.written.includes('clusters/prod/application-stacklight-prod.yaml'));
    assert.ok(report.written.includes('clusters/prod/configmap-stacklight-sops-plugin.yaml'));
    assert.ok(report.removed.includes('clusters/prod/kustomization-stacklight-prod.yaml'));
    const [application] = parseYamlDocuments(await repo.read('clusters/prod/application-stacklight-prod.yaml'), 'application') as [{ spec: { source: { plugin: { name: string }; path: string } } }];
    assert.deepEqual(application.spec.source.plugin, { name: 'stacklight-sops' });
    const [configMap] = parseYamlDocuments(await repo.read('clusters/prod/configmap-stacklight-sops-plugin.yaml'), 'cm') as [{ data: Record<string, string> }];
    const [plugin] = parseYamlDocuments(configMap.data['plugin.yaml']!, 'plugin.yaml') as [{ kind: string; metadata: { name: string }; spec: { generate: { command: string[]; args: string[] } } }];
    assert.equal(plugin.kind, 'ConfigManagementPlugin');
    assert.equal(plugin.metadata.name, application.spec.source.plugin.name);
    assert.match(plugin.spec.generate.args[0]!, /sops --decrypt --in-place "\$file"[\s\S]*kustomize build \./);
    // The dev overlay and clusters stay Flux's.
    assert.ok(!report.changed.some((file) => file.startsWith('clusters/dev/')));
  } finally {
    await writeFile(prodFile, original);
    await compile({ root: repo.root });
  }
});

async function bootstrap(env: string, keyFile: string): Promise<string> {
  const { stdout } = await runCliOk('bootstrap.ts', [env, '--root', repo.root, '--age-key-file', keyFile]);
  return stdout;
}

test('bootstrap prints the exact Flux commands, pointing at the key\'s line without printing the key', async () => {
  const keyFile = join(repo.root, 'keys.txt');
  const keys = (await readFile(keyFile, 'utf8')).split('\n');
  const output = await bootstrap('prod', keyFile);
  const line = Number(/sed -n '(\d+)p'/.exec(output)?.[1]);
  assert.ok(keys[line - 1]?.startsWith('AGE-SECRET-KEY-'), `line ${line} of the key file is not a key`);
  const recipient = /age: (age1\w+)/.exec(await repo.read('.sops.yaml').then((text) => text.split('overlays/prod')[1]!))?.[1];
  assert.ok(recipient && output.includes(recipient), 'the prod recipient is not named');
  assert.match(output, /flux install --namespace=flux-system/);
  assert.match(output, /patch deployment kustomize-controller --type json -p '\[\{"op":"add","path":"\/spec\/template\/spec\/containers\/0\/args\/-","value":"--feature-gates=CancelHealthCheckOnNewRevision=true"\}\]'/);
  assert.match(output, /kubectl -n flux-system create secret generic sops-age --from-file=age\.agekey=\/dev\/stdin/);
  assert.match(output, /kubectl apply -k clusters\/prod/);
  for (const key of keys.filter((text) => text.startsWith('AGE-SECRET-KEY-'))) assert.ok(!output.includes(key), 'a private key was printed');
});

test('bootstrap without the environment\'s key says so', async () => {
  const output = await bootstrap('prod', join(repo.root, 'no-such-keys.txt'));
  assert.match(output, /No private key of age1\w+ is in .*no-such-keys\.txt/);
});

test('the Argo CD the bootstrap installs is the release the tests run', async () => {
  const goMod = await readFile(join(REPO_ROOT, 'test/cluster/modules/argocd/go.mod'), 'utf8');
  assert.match(goMod, new RegExp(`^require github\\.com/argoproj/argo-cd/v3 ${ARGOCD.version.replace(/\./g, '\\.')}$`, 'm'));
  const output = bootstrapCommands({ environment: 'prod', config: withEngine('argocd'), keyFile: '/keys.txt', recipients: [], key: undefined });
  assert.ok(output.includes(`/argo-cd/${ARGOCD.version}/manifests/install.yaml`));
});

test('bootstrap with Argo CD prints exact commands: the key Secret, clusters/ applied, the repo server given the SOPS plugin sidecar with the pinned tools and the key', async () => {
  const output = bootstrapCommands({
    environment: 'prod', config: withEngine('argocd'), keyFile: '/keys.txt', recipients: ['age1example'], key: { line: 3, recipient: 'age1example' },
  });
  const commands = output.split('\n').filter((line) => line && !line.startsWith('#'));
  assert.ok(commands.includes(`sed -n '3p' '/keys.txt' | kubectl -n argocd create secret generic sops-age --from-file=keys.txt=/dev/stdin`), output);
  const patchLine = commands.find((line) => line.startsWith('kubectl -n argocd patch deployment argocd-repo-server --type strategic -p '));
  assert.ok(patchLine, 'the repo server patch is a command, not a comment');
  assert.ok(commands.indexOf('kubectl apply -k clusters/prod') < commands.indexOf(patchLine), 'the plugin ConfigMap exists before the sidecar mounts it');
  type Mount = { name: string; mountPath: string; subPath?: string; readOnly?: boolean };
  type Container = { name: string; args: string[]; env: { name: string; value: string }[]; volumeMounts: Mount[] };
  type Volume = { name: string; secret?: { secretName: string }; emptyDir?: object };
  type PodSpec = { containers: Container[]; initContainers: Container[]; volumes: Volume[] };
  type RepoServerPatch = { spec: { template: { metadata: { annotations: Record<string, string> }; spec: PodSpec } } };
  const patch = JSON.parse(/-p '(.*)'$/.exec(patchLine)![1]!) as RepoServerPatch;
  const pod = patch.spec.template.spec;
  // The patch merged into a minimal repo server (its var-files and plugins volumes) is a valid Deployment.
  const merged: KubeObject = {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'argocd-repo-server' },
    spec: { selector: { matchLabels: { app: 'repo' } }, template: { metadata: { labels: { app: 'repo' } }, spec: {
      ...pod, volumes: [...pod.volumes, { name: 'var-files', emptyDir: {} }, { name: 'plugins', emptyDir: {} }],
    } } },
  };
  assert.deepEqual(await schemaProblems(merged), []);
  const [init] = pod.initContainers;
  const install = String(init!.args[0]);
  assert.match(install, /go install github\.com\/getsops\/sops\/v3\/cmd\/sops@v3\.10\.2 && go install sigs\.k8s\.io\/kustomize\/kustomize\/v5@v5\.7\.1/);
  const sidecar = pod.containers[0]!;
  const env = Object.fromEntries(sidecar.env.map((entry) => [entry.name, entry.value]));
  const mounts = sidecar.volumeMounts;
  const gobin = init!.env.find((entry) => entry.name === 'GOBIN')!.value;
  assert.ok(env['PATH']!.split(':').includes(gobin), 'the built tools are on the sidecar\'s PATH');
  const keyMount = mounts.find((mount) => mount.name === 'sops-age')!;
  assert.equal(env['SOPS_AGE_KEY_FILE'], `${keyMount.mountPath}/keys.txt`);
  assert.equal(keyMount.readOnly, true);
  assert.equal(pod.volumes.find((volume) => volume.name === 'sops-age')?.secret?.secretName, 'sops-age', 'the Secret the key step creates');
  assert.equal(mounts.find((mount) => mount.name === 'stacklight-sops-plugin')?.mountPath, '/home/argocd/cmp-server/config', 'argocd-cmp-server reads <dir>/plugin.yaml');
  assert.match(patch.spec.template.metadata.annotations['stacklight.ms/config-hash'] ?? '', /^[0-9a-f]{32}$/, 'a changed plugin rolls the repo server');
  const tmp = mounts.find((mount) => mount.mountPath === '/tmp')!;
  assert.deepEqual(pod.volumes.find((volume) => volume.name === tmp.name)?.emptyDir, { medium: 'Memory' }, 'plaintext only in memory');
});
