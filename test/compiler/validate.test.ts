/**
 * `npm run validate`: every overlay built by kustomize, every object checked against the
 * Kubernetes schemas, for unknown fields, and against the repository's rules. Each checker is
 * shown to catch what it is for, then the CLI is run on good and on tampered output.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compile } from '../../compiler/compile.ts';
import { describeObject, schemaProblems, unknownFieldProblems, type KubeObject } from '../../compiler/kube/schema.ts';
import { parseYamlDocuments } from '../../compiler/render/yaml.ts';
import { ruleProblems } from '../../compiler/kube/rules.ts';
import { tempRepo, type TempRepo } from '../support/temp-repo.ts';
import { runCli, runCliOk } from '../support/cli.ts';

function deployment(container: Record<string, unknown>, extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'demo', ...extra },
    spec: {
      selector: { matchLabels: { app: 'demo' } },
      template: { metadata: { labels: { app: 'demo' } }, spec: { containers: [{ name: 'demo', ...container }] } },
    },
  };
}

const GOOD_CONTAINER = {
  image: 'example/demo:1.0',
  resources: { requests: { cpu: '10m', memory: '10Mi' }, limits: { memory: '20Mi' } },
  livenessProbe: { tcpSocket: { port: 80 } },
  readinessProbe: { tcpSocket: { port: 80 } },
};

async function validateCli(root: string): Promise<{ code: number; output: string }> {
  const { code, stdout, stderr } = await runCli('validate.ts', ['--root', root]);
  return { code, output: stdout + stderr };
}

let repo: TempRepo;
before(async () => {
  repo = await tempRepo();
  await compile({ root: repo.root });
});
after(async () => {
  await repo.remove();
});

test('a well-formed object has no problem of any kind', async () => {
  const object = deployment(GOOD_CONTAINER);
  assert.deepEqual([...(await schemaProblems(object)), ...(await unknownFieldProblems(object)), ...ruleProblems(object)], []);
});

test('the schemas catch wrong types and missing required fields', async () => {
  const problems = await schemaProblems(deployment({ ...GOOD_CONTAINER, ports: [{ containerPort: 'http' }] }));
  assert.deepEqual(problems, ['Deployment/demo: spec/template/spec/containers/0/ports/0/containerPort must be integer']);
  const noSelector = deployment(GOOD_CONTAINER);
  delete (noSelector.spec as Record<string, unknown>).selector;
  assert.deepEqual(await schemaProblems(noSelector), ['Deployment/demo: spec must have required property selector']);
});

test('misspelled fields are caught, at any depth', async () => {
  const problems = await unknownFieldProblems(deployment({ ...GOOD_CONTAINER, imagePullPolicyy: 'Always' }, { labelz: {} }));
  assert.deepEqual(problems, [
    'Deployment/demo: metadata/labelz: unknown field (not in V1ObjectMeta)',
    'Deployment/demo: spec/template/spec/containers/0/imagePullPolicyy: unknown field (not in V1Container)',
  ]);
});

test('the repository rules catch latest images, missing probes and resources, literal passwords, plaintext Secrets', () => {
  const { livenessProbe, resources, ...rest } = GOOD_CONTAINER;
  void livenessProbe;
  void resources;
  const problems = ruleProblems(deployment({ ...rest, image: 'example/demo:latest', env: [{ name: 'DB_PASSWORD', value: 'x' }] }));
  assert.deepEqual(problems, [
    'Deployment/demo: container demo: image "example/demo:latest" uses "latest"',
    'Deployment/demo: container demo: no cpu and memory requests',
    'Deployment/demo: container demo: no memory limit',
    'Deployment/demo: container demo: no liveness probe',
    'Deployment/demo: container demo: DB_PASSWORD holds a secret in the environment; mount its Secret and name the file in DB_PASSWORD_FILE',
  ]);
  // a secret is a file: neither from a Secret into a variable, nor a whole Secret into the environment
  assert.deepEqual(
    ruleProblems(
      deployment({
        ...GOOD_CONTAINER,
        env: [
          { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 's', key: 'password' } } },
          { name: 'DB_PASSWORD_FILE', value: 'relative/path' },
          { name: 'API_TOKEN_FILE', value: '/etc/s/token' },
        ],
        envFrom: [{ secretRef: { name: 's' } }],
      }),
    ),
    [
      'Deployment/demo: container demo: envFrom puts Secret s in the environment; mount it and read the files',
      'Deployment/demo: container demo: DB_PASSWORD holds a secret in the environment; mount its Secret and name the file in DB_PASSWORD_FILE',
      'Deployment/demo: container demo: DB_PASSWORD_FILE must be the absolute path of a mounted file',
    ],
  );
  assert.deepEqual(ruleProblems({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { password: 'x' } }), [
    'Secret/s: is not SOPS-encrypted',
  ]);
});

test('npm run validate passes on the compiled output', async () => {
  const { code, output } = await validateCli(repo.root);
  assert.equal(code, 0, output);
  assert.match(output, /^ok {3}base: \d+ objects/m);
  assert.match(output, /^ok {3}overlays\/dev: \d+ objects/m);
  assert.match(output, /^ok {3}overlays\/prod: \d+ objects/m);
  // the shipped config references its images by tag: one warning per image and overlay
  const warnings = output.split('\n').filter((line) => /^ {5}warning: \S+ has no digest/.test(line));
  assert.equal(warnings.length, 2 * 4, warnings.join('\n'));
  assert.ok(warnings.some((line) => line.includes('ghcr.io/ms-stacklight/grafana:0.1.0 has no digest')));
});

test('npm run validate does not warn about an image pinned by digest', async () => {
  const digest = `sha256:${'ab'.repeat(32)}`;
  const images = join(repo.root, 'config/images.ts');
  const original = await readFile(images, 'utf8');
  try {
    await writeFile(images, original.replace("grafana: { repository: 'ghcr.io/ms-stacklight/grafana', tag: '0.1.0' }", `grafana: { repository: 'ghcr.io/ms-stacklight/grafana', tag: '0.1.0', digest: '${digest}' }`));
    await compile({ root: repo.root });
    const { code, output } = await validateCli(repo.root);
    assert.equal(code, 0, output);
    assert.doesNotMatch(output, /grafana:0\.1\.0.* has no digest/);
    assert.match(output, /snap:0\.1\.0 has no digest/);
  } finally {
    await writeFile(images, original);
    await compile({ root: repo.root });
  }
});

test('npm run validate fails on an overlay patched by hand into an invalid object', async () => {
  const file = join(repo.root, 'overlays/prod/patches/deployment-grafana.yaml');
  const original = await readFile(file, 'utf8');
  try {
    await writeFile(file, `${original}- op: add\n  path: /spec/template/spec/containers/0/imagePullPolicyy\n  value: Always\n`);
    const { code, output } = await validateCli(repo.root);
    assert.equal(code, 1);
    assert.match(output, /FAIL overlays\/prod/);
    assert.match(output, /Deployment\/grafana: spec\/template\/spec\/containers\/0\/imagePullPolicyy: unknown field/);
  } finally {
    await writeFile(file, original);
  }
});

test('npm run build -- --schema-input: every object of a build, encrypted Secrets without their sops block (what CI feeds kubeconform -strict)', async () => {
  const build = async (...args: string[]) =>
    parseYamlDocuments((await runCliOk('build.ts', [join(repo.root, 'overlays/prod'), ...args])).stdout, 'build') as KubeObject[];
  const [plain, schemaInput] = [await build(), await build('--schema-input')];
  const secretFiles = (await readdir(join(repo.root, 'overlays/prod/secrets'), { recursive: true })).filter((name) => name.endsWith('.yaml'));
  const secrets = schemaInput.filter((object) => object.kind === 'Secret');
  assert.equal(secrets.length, secretFiles.length, 'every Secret is printed, none skipped');
  for (const secret of secrets) {
    assert.ok(!('sops' in secret), `${describeObject(secret)} still has its sops block`);
    for (const value of Object.values(secret['stringData'] as Record<string, string>)) assert.match(value, /^ENC\[AES256_GCM,/, 'values stay encrypted');
    assert.deepEqual(await schemaProblems(secret), [], describeObject(secret));
  }
  assert.ok(plain.filter((object) => object.kind === 'Secret').every((secret) => 'sops' in secret), 'without the flag, the build is as kustomize made it');
  assert.deepEqual(schemaInput.filter((object) => object.kind !== 'Secret'), plain.filter((object) => object.kind !== 'Secret'), 'other objects are untouched');
});
