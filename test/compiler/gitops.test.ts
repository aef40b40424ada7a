/**
 * clusters/<env>/ and the engine switch: the Flux and Argo CD objects validate against their
 * schemas (and a broken one does not); switching an environment to Argo CD changes its overlay
 * to deliver the Secrets through KSOPS, with the same objects otherwise; `npm run bootstrap`
 * prints the exact commands, pointing at the environment's key without printing it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stack } from '../../config/stack.ts';
import type { StackConfig } from '../../compiler/config/types.ts';
import { gitopsObjects } from '../../compiler/gitops/index.ts';
import { bootstrapCommands } from '../../compiler/gitops/bootstrap.ts';
import { schemaProblems, type KubeObject } from '../../compiler/kube/schema.ts';
import { compile } from '../../compiler/compile.ts';
import { kustomizeBuild, kustomizeBuildEncrypted } from '../../compiler/kustomize/build.ts';
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
    assert.deepEqual(objects.map(key), engine === 'flux' ? ['GitRepository/stacklight', 'Kustomization/stacklight-prod'] : ['AppProject/stacklight', 'Application/stacklight-prod']);
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
  const [, kustomization] = gitopsObjects('prod', withEngine('flux')) as unknown as { spec: Record<string, any> }[]; // eslint-disable-line @typescript-eslint/no-explicit-any
  const spec = kustomization!.spec;
  assert.equal(spec.path, './overlays/prod');
  assert.equal(spec.prune, true);
  assert.deepEqual(spec.decryption, { provider: 'sops', secretRef: { name: 'sops-age' } });
  assert.deepEqual(spec.healthChecks.map((check: { kind: string; name: string }) => `${check.kind}/${check.name}`), ['DaemonSet/collector', 'Deployment/influxdb', 'Deployment/grafana']);
});

test('switching an environment to Argo CD changes its overlay to KSOPS, and nothing else', async () => {
  await compile({ root: repo.root });
  const fluxBuild = await kustomizeBuild(join(repo.root, 'overlays/prod'));
  const prodFile = join(repo.root, 'config/environments/prod.ts');
  const original = await readFile(prodFile, 'utf8');
  await writeFile(prodFile, original.replace('export const overrides: EnvironmentOverrides = {', "export const overrides: EnvironmentOverrides = {\n  gitops: { engine: 'argocd' },"));
  try {
    const { report } = await compile({ root: repo.root });
    assert.ok(report.written.includes('overlays/prod/secret-generator.yaml'));
    assert.ok(report.written.includes('clusters/prod/application-stacklight-prod.yaml'));
    assert.ok(report.removed.includes('clusters/prod/kustomization-stacklight-prod.yaml'));
    const [kustomization] = parseYamlDocuments(await repo.read('overlays/prod/kustomization.yaml'), 'kustomization') as [{ resources: string[]; generators: string[] }];
    assert.deepEqual(kustomization.generators, ['secret-generator.yaml']);
    assert.ok(kustomization.resources.every((resource) => !resource.startsWith('secrets/')), 'Secrets still listed as resources');
    const [generator] = parseYamlDocuments(await repo.read('overlays/prod/secret-generator.yaml'), 'generator') as [{ apiVersion: string; kind: string; files: string[] }];
    assert.equal(`${generator.apiVersion}/${generator.kind}`, 'viaduct.ai/v1/ksops');
    assert.deepEqual(generator.files, ['secrets/grafana-admin.yaml', 'secrets/influxdb-admin.yaml', 'secrets/influxdb-reader.yaml', 'secrets/influxdb-writer.yaml']);
    // The dev overlay still uses Flux's form.
    assert.doesNotMatch(await repo.read('overlays/dev/kustomization.yaml'), /generators/);
    // KSOPS would decrypt the same files Flux lists: built encrypted, the objects are Flux's.
    const argoBuild = await kustomizeBuildEncrypted(join(repo.root, 'overlays/prod'));
    assert.deepEqual(new Map(argoBuild.map((object) => [key(object), object])), new Map(fluxBuild.map((object) => [key(object), object])));
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

test('bootstrap with Argo CD prints exact commands: KSOPS enabled, the repo server patched with ksops and the key, the key Secret the patch mounts', async () => {
  const output = bootstrapCommands({
    environment: 'prod', config: withEngine('argocd'), keyFile: '/keys.txt', recipients: ['age1example'], key: { line: 3, recipient: 'age1example' },
  });
  const commands = output.split('\n').filter((line) => line && !line.startsWith('#'));
  assert.ok(commands.includes(`sed -n '3p' '/keys.txt' | kubectl -n argocd create secret generic sops-age --from-file=keys.txt=/dev/stdin`), output);
  assert.ok(commands.includes(`kubectl -n argocd patch configmap argocd-cm --type merge -p '{"data":{"kustomize.buildOptions":"--enable-alpha-plugins --enable-exec"}}'`));
  const patchLine = commands.find((line) => line.startsWith('kubectl -n argocd patch deployment argocd-repo-server --type strategic -p '));
  assert.ok(patchLine, 'the repo server patch is a command, not a comment');
  const patch = JSON.parse(/-p '(.*)'$/.exec(patchLine)![1]!) as { spec: { template: { spec: Record<string, any> } } };
  const pod = patch.spec.template.spec;
  // The patch merged into a minimal repo server is a valid Deployment.
  const merged: KubeObject = {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'argocd-repo-server' },
    spec: { selector: { matchLabels: { app: 'repo' } }, template: { metadata: { labels: { app: 'repo' } }, spec: {
      ...pod, containers: pod['containers'].map((container: object) => ({ ...container, image: 'quay.io/argoproj/argocd:v3.0.0' })),
    } } },
  };
  assert.deepEqual(await schemaProblems(merged), []);
  {
    const copied = String(pod['initContainers'][0].args[0]).split(' ').slice(1, -1);
    const mounts: { name: string; mountPath: string; subPath?: string }[] = pod['containers'][0].volumeMounts;
    assert.deepEqual(mounts.filter((mount) => mount.subPath).map((mount) => mount.subPath).sort(), [...copied].sort(), 'every copied binary is mounted onto PATH');
    const keyMount = mounts.find((mount) => mount.name === 'sops-age')!;
    const xdg = pod['containers'][0].env.find((entry: { name: string }) => entry.name === 'XDG_CONFIG_HOME').value;
    assert.equal(`${keyMount.mountPath}/keys.txt`, `${xdg}/sops/age/keys.txt`, 'SOPS finds the key at $XDG_CONFIG_HOME/sops/age/keys.txt');
    assert.equal(pod['volumes'].find((volume: { name: string }) => volume.name === 'sops-age').secret.secretName, 'sops-age', 'the Secret the key step creates');
    assert.ok(commands.indexOf('kubectl apply -k clusters/prod') > commands.indexOf(patchLine), 'the application comes last');
  }
});
