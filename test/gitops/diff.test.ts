/**
 * `npm run diff` on two commits of a fixture repository: the inputs copied into a temp
 * directory, Secrets initialised there with a throw-away age key, compiled and committed (A);
 * then an operator's change (B) in prod: a memory limit, the collector interval (a ConfigMap),
 * InfluxDB moved out of the cluster (objects removed, its admin Secret deleted, Flux's health
 * check of it gone) and a rotated Secret. The report must list exactly the objects and fields that changed, and show the Secret
 * change without its value or ciphertext.
 */
import { stack } from '../../config/stack.ts';
import type { InClusterInfluxDB } from '../../compiler/config/types.ts';
import { localVolumeNames } from '../../compiler/influxdb/index.ts';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { compile } from '../../compiler/compile.ts';
import { decrypt } from '../../compiler/secrets/sops.ts';
import { parseYamlDocuments } from '../../compiler/render/yaml.ts';
import type { RenderedDiff } from '../../compiler/diff/report.ts';
import { tempRepo, type TempRepo } from '../support/temp-repo.ts';
import { runCli } from '../support/cli.ts';

const run = promisify(execFile);

let repo: TempRepo;
let keyFile: string;
let commitA: string;
let commitB: string;
/** Plaintext and ciphertext of the rotated Secret, before and after: none may be printed. */
const forbidden: string[] = [];


async function secrets(...args: string[]): Promise<void> {
  const result = await runCli('secrets.ts', [...args, '--root', repo.root, '--age-key-file', keyFile]);
  assert.equal(result.code, 0, `secrets ${args.join(' ')}: ${result.stdout}${result.stderr}`);
}

async function git(...args: string[]): Promise<string> {
  const { stdout } = await run('git', ['-C', repo.root, '-c', 'user.name=test', '-c', 'user.email=test@example.invalid', '-c', 'commit.gpgsign=false', ...args]);
  return stdout.trim();
}

async function diff(...args: string[]) {
  return runCli('diff.ts', [...args, '--root', repo.root]);
}

async function diffJson(...args: string[]): Promise<RenderedDiff> {
  const result = await diff(...args, '--json');
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as RenderedDiff;
}

/** Replaces `from` with `to` in a file of the fixture, failing when `from` is not there. */
async function edit(path: string, from: string, to: string): Promise<void> {
  const text = await repo.read(path);
  assert.ok(text.includes(from), `${path} no longer contains ${JSON.stringify(from)}: update the fixture`);
  await repo.write(path, text.replace(from, to));
}

/** The ENC[...] strings and the sops block's ciphertext of a Secret file. */
function ciphertexts(file: string): string[] {
  const encrypted = [...file.matchAll(/ENC\[AES256_GCM,data:([^,]+),iv:([^,]+),tag:([^,]+),/g)].flatMap((match) => [match[1]!, match[2]!, match[3]!]);
  const armored = [...file.matchAll(/^\s+([A-Za-z0-9+/=]{40,})$/gm)].map((match) => match[1]!);
  return [...encrypted, ...armored];
}

async function plaintextPassword(file: string): Promise<string> {
  const [secret] = parseYamlDocuments(await decrypt(repo.root, file, keyFile), file) as [{ stringData: { password: string } }];
  return secret.stringData.password;
}

const PROD_A = `/** prod, as the fixture's first commit has it. */
import type { EnvironmentOverrides } from '../../compiler/config/types.ts';

export const overrides: EnvironmentOverrides = {
  hindsight: {
    output: { staticTags: { cluster: 'prod', environment: 'prod' } },
  },
  networkPolicy: { acceptedBecause: 'a test fixture' },
  influxdb: {
    retention: '90d',
    storage: { type: 'localVolume', path: '/var/lib/stacklight/influxdb', capacity: '500Gi' },
    resources: { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '8Gi' } },
  },
  grafana: {
    resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
  },
};
`;

before(async () => {
  repo = await tempRepo({ secrets: false });
  keyFile = join(repo.root, 'keys.txt');
  await repo.write('.gitignore', 'keys.txt\n');
  await repo.write('config/environments/prod.ts', PROD_A);
  await secrets('init', 'dev');
  await secrets('init', 'prod');
  await compile({ root: repo.root });
  await git('init', '--quiet', '--initial-branch=main');
  await git('add', '--all');
  await git('commit', '--quiet', '--message', 'A');
  commitA = await git('rev-parse', 'HEAD');

  const grafanaAdmin = 'overlays/prod/secrets/stacklight/grafana-admin.yaml';
  forbidden.push(await plaintextPassword(grafanaAdmin), ...ciphertexts(await repo.read(grafanaAdmin)));
  // A memory limit; the collector's interval (Snap's task, a ConfigMap); InfluxDB leaves the cluster.
  const prod = 'config/environments/prod.ts';
  await edit(prod, "limits: { memory: '1Gi' }", "limits: { memory: '2Gi' }");
  await edit(prod, 'export const overrides: EnvironmentOverrides = {\n', "export const overrides: EnvironmentOverrides = {\n  collector: { interval: '30s' },\n");
  await edit(
    prod,
    `  influxdb: {
    retention: '90d',
    storage: { type: 'localVolume', path: '/var/lib/stacklight/influxdb', capacity: '500Gi' },
    resources: { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '8Gi' } },
  },
`,
    "  influxdb: { enabled: false, url: 'https://influxdb.example.net:8086', database: 'stacklight', retentionPolicy: 'stacklight' },\n",
  );
  for (const name of ['influxdb-admin', 'influxdb-writer']) await rm(join(repo.root, `overlays/prod/secrets/stacklight/${name}.yaml`));
  await secrets('rotate', 'prod', 'grafana-admin');
  forbidden.push(await plaintextPassword(grafanaAdmin), ...ciphertexts(await repo.read(grafanaAdmin)));
  await compile({ root: repo.root });
  await git('add', '--all');
  await git('commit', '--quiet', '--message', 'B');
  commitB = await git('rev-parse', 'HEAD');
});

after(async () => {
  await repo.remove();
});

type Fields = Record<string, string>;
const fieldsOf = (report: RenderedDiff, env: string) =>
  Object.fromEntries(
    report.environments
      .find((e) => e.name === env)!
      .changed.map((object) => [object.id, Object.fromEntries(object.fields.map((field) => [field.path, field.summary])) as Fields]),
  );

/** prod's local volume and claim in the fixture's first commit (named after their settings). */
const PROD_VOLUME = localVolumeNames(stack, stack.influxdb as InClusterInfluxDB, { path: '/var/lib/stacklight/influxdb', capacity: '500Gi' });

const INFLUXDB_OBJECTS = [
  'ConfigMap/stacklight/influxdb-config',
  'Deployment/stacklight/influxdb',
  'NetworkPolicy/stacklight/influxdb-ingress',
  `PersistentVolume/${PROD_VOLUME.volume}`,
  `PersistentVolumeClaim/stacklight/${PROD_VOLUME.claim}`,
  'Secret/stacklight/influxdb-admin',
  'Secret/stacklight/influxdb-writer',
  'Service/stacklight/influxdb',
];
const CONFIG_HASH = 'spec.template.metadata.annotations["stacklight.ms/config-hash"]';
const HASH_CHANGE = /^[0-9a-f]{32} → [0-9a-f]{32}$/;

/** What A → B changes in prod, object by object and field by field (B → A: the same fields). */
function assertProdChanges(report: RenderedDiff, direction: 'forward' | 'backward'): void {
  assert.deepEqual(
    report.environments.map((env) => env.name),
    ['base', 'overlays/dev', 'overlays/prod', 'clusters/dev', 'clusters/prod'],
  );
  for (const name of ['base', 'overlays/dev', 'clusters/dev']) {
    assert.deepEqual(report.environments.find((env) => env.name === name), { name, added: [], removed: [], changed: [] }, `${name} did not change`);
  }
  // Flux no longer waits for an InfluxDB Deployment that is not there.
  const healthCheck = '{"apiVersion":"apps/v1","kind":"Deployment","name":"influxdb","namespace":"stacklight"}';
  assert.deepEqual(report.environments.find((env) => env.name === 'clusters/prod'), {
    name: 'clusters/prod',
    added: [],
    removed: [],
    changed: [
      {
        id: 'Kustomization/flux-system/stacklight-prod',
        fields: [
          direction === 'forward'
            ? { path: 'spec.healthChecks[influxdb]', summary: `${healthCheck} → (none)`, before: healthCheck, after: '(none)' }
            : { path: 'spec.healthChecks[influxdb]', summary: `(none) → ${healthCheck}`, before: '(none)', after: healthCheck },
        ],
      },
    ],
  });
  const prod = report.environments.find((env) => env.name === 'overlays/prod')!;
  // InfluxDB moved out of the cluster: its objects and its admin Secret are gone (back, backwards).
  assert.deepEqual(prod.removed, direction === 'forward' ? INFLUXDB_OBJECTS : []);
  assert.deepEqual(prod.added, direction === 'forward' ? [] : INFLUXDB_OBJECTS);
  const fields = fieldsOf(report, 'overlays/prod');
  assert.match(fields['DaemonSet/stacklight-collector/collector']?.[CONFIG_HASH] ?? '', HASH_CHANGE);
  assert.match(fields['Deployment/stacklight/grafana']?.[CONFIG_HASH] ?? '', HASH_CHANGE);
  // Each dashboard changes as many lines as it has panels (their query interval); the count is the dashboards' business.
  const dashboards = fields['ConfigMap/stacklight/grafana-dashboards'] ?? {};
  for (const summary of Object.values(dashboards)) assert.match(summary, /^changed \(\+(\d+) −\1 lines\)$/);
  const [from, to] = direction === 'forward' ? ['1Gi', '2Gi'] : ['2Gi', '1Gi'];
  assert.deepEqual(fields, {
    // The dashboards' panels query at the collector's interval.
    'ConfigMap/stacklight/grafana-dashboards': {
      'data["stacklight-cluster.json"]': dashboards['data["stacklight-cluster.json"]']!,
      'data["stacklight-node.json"]': dashboards['data["stacklight-node.json"]']!,
      'data["stacklight-pipeline.json"]': dashboards['data["stacklight-pipeline.json"]']!,
    },
    // Grafana's datasource points at the remote InfluxDB (url) at the new interval (timeInterval);
    // Hindsight's output points at the remote InfluxDB.
    'ConfigMap/stacklight/grafana-provisioning': { 'data["datasource.yaml"]': 'changed (+2 −2 lines)' },
    'ConfigMap/stacklight-collector/hindsight-config': { 'data["influxdb.cfg"]': 'changed (+1 −1 lines)' },
    // Snap's task runs at the new interval.
    'ConfigMap/stacklight-collector/snap-config': { 'data["task.yaml"]': 'changed (+1 −1 lines)' },
    // The pods that read a changed ConfigMap or Secret roll.
    'DaemonSet/stacklight-collector/collector': { [CONFIG_HASH]: fields['DaemonSet/stacklight-collector/collector']![CONFIG_HASH]! },
    'Deployment/stacklight/grafana': {
      [CONFIG_HASH]: fields['Deployment/stacklight/grafana']![CONFIG_HASH]!,
      'spec.template.spec.containers[grafana].resources.limits.memory': `${from} → ${to}`,
    },
    // The rotated password: which key, never the value.
    'Secret/stacklight/grafana-admin': { 'stringData.password': 'value changed (encrypted)' },
  });
  const task = prod.changed.find((object) => object.id === 'ConfigMap/stacklight-collector/snap-config')!.fields[0]!;
  const [old, now] = direction === 'forward' ? ['10s', '30s'] : ['30s', '10s'];
  assert.equal(task.diff!.filter((line) => /^[-+]/.test(line)).length, 2);
  assert.match(task.diff!.find((line) => line.startsWith('-'))!, new RegExp(`\\b${old}\\b`));
  assert.match(task.diff!.find((line) => line.startsWith('+'))!, new RegExp(`\\b${now}\\b`));
}

test('the report lists exactly the objects removed and changed, and the changed fields', async () => {
  assertProdChanges(await diffJson('--base', commitA, '--head', commitB), 'forward');
});

test('the other way round, the removed objects are reported as added', async () => {
  assertProdChanges(await diffJson('--base', commitB, '--head', commitA), 'backward');
});

test('the markdown report names each change, shows no Secret value or ciphertext, and is deterministic', async () => {
  const first = await diff('--base', commitA, '--head', commitB);
  assert.equal(first.code, 0, first.stderr);
  const markdown = first.stdout;
  for (const id of INFLUXDB_OBJECTS) assert.ok(markdown.includes(`- removed \`${id}\``), `${id} is not listed as removed`);
  assert.ok(markdown.includes('  - `spec.template.spec.containers[grafana].resources.limits.memory`: `1Gi` → `2Gi`'));
  assert.ok(markdown.includes('- changed `Secret/stacklight/grafana-admin`\n  - `stringData.password`: value changed (encrypted)\n'));
  assert.ok(markdown.includes('| overlays/prod | 0 | 8 | 7 |\n| clusters/dev | 0 | 0 | 0 |\n| clusters/prod | 0 | 0 | 1 |\n'));
  assert.match(markdown, /<details><summary><code>ConfigMap\/stacklight-collector\/snap-config<\/code> <code>data\[&quot;task.yaml&quot;\]<\/code>: changed \(\+1 −1 lines\)<\/summary>\n\n```diff\n@@ /);
  assert.ok(!markdown.includes('#### overlays/dev') && !markdown.includes('#### base'), 'unchanged builds get no section');
  assert.ok(forbidden.length >= 8, 'the fixture collected the values and ciphertexts to look for');
  for (const secret of forbidden) assert.ok(!markdown.includes(secret), `the report shows a Secret's value or ciphertext (${secret.slice(0, 6)}…)`);
  assert.ok(!/ENC\[|AGE ENCRYPTED|mac:|lastmodified/.test(markdown), 'the report shows SOPS material');
  const second = await diff('--base', commitA, '--head', commitB);
  assert.equal(second.stdout, markdown, 'two runs print the same report');
});

test('no change: "No changes", exit 0; the working tree is the default head', async () => {
  const result = await diff('--base', commitB);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /working tree\n\nNo changes: `base\/`, every overlay and every `clusters\/<env>` build the same objects\.\n$/);

  // An uncommitted change is what the working tree shows.
  await edit('config/environments/dev.ts', "logLevel: 'info'", "logLevel: 'debug'");
  await compile({ root: repo.root });
  const report = await diffJson('--base', commitB);
  assert.deepEqual(report.head, { label: 'working tree' });
  assert.deepEqual(
    report.environments.filter((env) => env.changed.length + env.added.length + env.removed.length > 0).map((env) => env.name),
    ['overlays/dev'],
  );
  assert.deepEqual(Object.keys(fieldsOf(report, 'overlays/dev')), ['ConfigMap/stacklight-collector/snap-config', 'DaemonSet/stacklight-collector/collector']);
  assert.deepEqual(Object.keys(fieldsOf(report, 'overlays/dev')['ConfigMap/stacklight-collector/snap-config']!), ['data["snapd.yaml"]']);
  await git('checkout', '--quiet', '--', '.');
});

test('a bad ref or a missing --base fails with a clear message', async () => {
  const bad = await diff('--base', 'no-such-branch');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^diff: "no-such-branch" is not a commit in /);
  const missing = await diff();
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /--base is required/);
});
