/**
 * The secrets workflow end to end with the real sops and a throw-away age key made for this
 * run, through `npm run secrets` as an operator runs it: init, set (value on stdin), rotate,
 * add-recipient. Every value is decrypted twice, by sops itself and by an independent decryptor
 * (sops-age), and no plaintext value may appear in any file the workflow or the compile writes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { addRecipients, recipients } from '../../compiler/secrets/sops-config.ts';
import { join } from 'node:path';
import { decryptSops } from 'sops-age';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { compile } from '../../compiler/compile.ts';
import { decrypt } from '../../compiler/secrets/sops.ts';
import { parseYamlDocuments } from '../../compiler/render/yaml.ts';
import { REPO_ROOT } from '../../compiler/tools.ts';
import { listTree, tempRepo, type TempRepo } from '../support/temp-repo.ts';

let repo: TempRepo;
let keyFile: string;

function secrets(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // Through npm, as an operator runs it.
    const child = spawn('npm', ['run', '-s', 'secrets', '--', ...args, '--root', repo.root, '--age-key-file', keyFile], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (out += chunk));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`secrets ${args.join(' ')} exited ${code}: ${out}`))));
    child.stdin.end(input ?? '');
  });
}

/** The age private keys in the run's key file (comments skipped). */
async function privateKeys(): Promise<string[]> {
  return (await readFile(keyFile, 'utf8')).split('\n').filter((line) => line.startsWith('AGE-SECRET-KEY-'));
}

async function valueBySops(file: string): Promise<Record<string, string>> {
  const [secret] = parseYamlDocuments(await decrypt(repo.root, file, keyFile), file) as [{ stringData: Record<string, string> }];
  return secret.stringData;
}

async function valueBySopsAge(file: string, secretKey: string): Promise<Record<string, string>> {
  const decrypted = (await decryptSops(await repo.read(file), { secretKey, fileType: 'yaml' })) as { stringData: Record<string, string> };
  return decrypted.stringData;
}

/** The values as sops-age reads them with whichever of the run's keys is a recipient. */
async function valueBySopsAgeWithOwnKey(file: string): Promise<Record<string, string>> {
  const failures: string[] = [];
  for (const key of await privateKeys()) {
    try {
      return await valueBySopsAge(file, key);
    } catch (error) {
      failures.push(String(error));
    }
  }
  throw new Error(`no key of the run decrypts ${file}: ${failures.join('; ')}`);
}

/** Every file of the repository copy except the age key file. */
async function everyFile(): Promise<Map<string, string>> {
  const files = (await listTree(repo.root, '.')).filter((file) => !file.endsWith('keys.txt'));
  return new Map(await Promise.all(files.map(async (file) => [file, await readFile(join(repo.root, file), 'utf8')] as const)));
}

async function assertNoPlaintext(values: readonly string[]): Promise<void> {
  for (const [file, content] of await everyFile()) {
    for (const value of values) assert.ok(!content.includes(value), `${file} contains a plaintext secret value`);
  }
}

const DEV_FILES = [
  'stacklight/grafana-admin',
  'stacklight/influxdb-admin',
  'stacklight/influxdb-reader',
  'stacklight/influxdb-writer',
  'stacklight-collector/influxdb-writer',
  'stacklight-collector/snap-api',
].map((id) => `overlays/dev/secrets/${id}.yaml`);
/** The writer's password is read in both namespaces: two files, one value. */
const WRITER_FILES = ['stacklight', 'stacklight-collector'].map((namespace) => `overlays/dev/secrets/${namespace}/influxdb-writer.yaml`);

before(async () => {
  repo = await tempRepo({ secrets: false });
  keyFile = join(repo.root, 'keys.txt');
  await secrets(['init', 'dev']);
  await secrets(['init', 'prod']);
});
after(async () => {
  await repo.remove();
});

test('init writes one encrypted Secret per required credential, random and readable by sops and by sops-age', async () => {
  const [devKey] = await privateKeys();
  const passwords = new Set<string>();
  for (const file of DEV_FILES) {
    const bySops = await valueBySops(file);
    assert.deepEqual(await valueBySopsAge(file, devKey!), bySops, `${file}: the two decryptors disagree`);
    assert.match(bySops.password!, /^[A-Za-z0-9_-]{43}$/);
    passwords.add(bySops.password!);
    assert.match(await repo.read(file), /password: ENC\[AES256_GCM,data:/);
    assert.match(await repo.read(file), new RegExp(`^    namespace: ${file.split('/').at(-2)}$`, 'm'), `${file} names its namespace`);
  }
  const [writer, collectorWriter] = await Promise.all(WRITER_FILES.map(valueBySops));
  assert.equal(writer!.password, collectorWriter!.password, "the writer's two copies hold one password");
  assert.equal(passwords.size, DEV_FILES.length - 1, 'passwords repeat');
  assert.match(await repo.read('.sops.yaml'), /overlays\/dev\/secrets/);
  await compile({ root: repo.root });
  await assertNoPlaintext([...passwords]);
});

test('the compile reads the encrypted files without changing a byte', async () => {
  const before = await Promise.all(DEV_FILES.map((file) => repo.read(file)));
  await compile({ root: repo.root });
  assert.deepEqual(await Promise.all(DEV_FILES.map((file) => repo.read(file))), before);
});

test('set takes the value from stdin, rolls the pods that read it, and leaves no plaintext', async () => {
  await compile({ root: repo.root });
  const patchBefore = await repo.read('overlays/dev/patches/daemonset-collector.yaml');
  const grafanaBefore = await repo.read('overlays/dev/patches/deployment-grafana.yaml').catch(() => '');
  const value = `set-by-test-${Date.now()}-ünïcode`;
  const influxdbBefore = await repo.read('overlays/dev/patches/deployment-influxdb.yaml');
  await secrets(['set', 'dev', 'influxdb-writer', 'password'], `${value}\n`);
  const [server, collector] = await Promise.all(WRITER_FILES.map((file) => repo.read(file)));
  assert.equal(collector!.replace('namespace: stacklight-collector', 'namespace: stacklight'), server, 'one ciphertext, two namespaces');
  for (const file of WRITER_FILES) {
    assert.equal((await valueBySops(file)).password, value, `${file} holds the new value`);
    assert.equal((await valueBySopsAgeWithOwnKey(file)).password, value, 'sops-age reads the same value');
  }
  const { report } = await compile({ root: repo.root });
  // The collector and InfluxDB read the writer's password; Grafana does not.
  assert.ok(report.changed.includes('overlays/dev/patches/daemonset-collector.yaml'));
  assert.notEqual(await repo.read('overlays/dev/patches/deployment-influxdb.yaml'), influxdbBefore);
  assert.notEqual(await repo.read('overlays/dev/patches/daemonset-collector.yaml'), patchBefore);
  assert.equal(await repo.read('overlays/dev/patches/deployment-grafana.yaml').catch(() => ''), grafanaBefore);
  await assertNoPlaintext([value]);
});

test("a Secret read in two namespaces is one ciphertext: init restores a lost copy from the other, never a new value", async () => {
  const [server, collector] = WRITER_FILES as [string, string];
  const withoutNamespace = (text: string) => text.replace(/^ {4}namespace: .*$/m, '');
  assert.equal(withoutNamespace(await repo.read(collector)), withoutNamespace(await repo.read(server)));
  const password = (await valueBySops(server)).password;
  await rm(join(repo.root, collector));
  await secrets(['init', 'dev']);
  assert.equal((await valueBySops(collector)).password, password, 'the copy holds the same password');
  await compile({ root: repo.root });
});

test('rotate replaces a value with a new random one', async () => {
  const file = 'overlays/prod/secrets/stacklight/grafana-admin.yaml';
  const before = (await valueBySops(file)).password;
  await secrets(['rotate', 'prod', 'grafana-admin']);
  const after = (await valueBySops(file)).password;
  assert.notEqual(after, before);
  assert.match(after!, /^[A-Za-z0-9_-]{43}$/);
  assert.equal((await valueBySopsAgeWithOwnKey(file)).password, after, 'sops-age reads the same value');
});

test('add-recipient lets a second key decrypt every Secret of the environment', async () => {
  const identity = await generateIdentity();
  const recipient = await identityToRecipient(identity);
  await secrets(['add-recipient', 'prod', recipient]);
  assert.match(await repo.read('.sops.yaml'), new RegExp(recipient));
  for (const id of ['stacklight/grafana-admin', 'stacklight-collector/influxdb-writer', 'stacklight-collector/snap-api']) {
    const file = `overlays/prod/secrets/${id}.yaml`;
    assert.deepEqual(await valueBySopsAge(file, identity), await valueBySops(file));
  }
  // the writer's two copies are still one ciphertext: the compile checks it
  await compile({ root: repo.root });
});

test('bad requests fail with a clear message and change nothing', async () => {
  const before = await everyFile();
  await assert.rejects(secrets(['init', 'dev']), /dev is already initialised/);
  await assert.rejects(secrets(['init', 'qa']), /no environment "qa": expected config\/environments\/qa\.ts/);
  await assert.rejects(secrets(['add-recipient', 'dev', 'not-a-key']), /"not-a-key" is not an age recipient/);
  await assert.rejects(secrets(['set', 'dev', 'influxdb-writer', 'password'], ''), /refusing to set an empty value/);
  assert.deepEqual(await everyFile(), before);
});

test('sops refuses to decrypt with a key that is not a recipient', async () => {
  const stranger = join(repo.root, 'stranger.txt');
  await writeFile(stranger, `${await generateIdentity()}\n`);
  await assert.rejects(decrypt(repo.root, DEV_FILES[0]!, stranger));
});

test('a .sops.yaml rule of the layout before namespaces is found and rewritten, keeping its recipients', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stacklight-sops-'));
  try {
    await writeFile(join(dir, '.sops.yaml'), 'creation_rules:\n  - path_regex: (^|/)overlays/qa/secrets/[^/]+\\.yaml$\n    age: age1old\n');
    assert.deepEqual(await recipients(dir, 'qa'), ['age1old']);
    assert.deepEqual(await addRecipients(dir, 'qa', ['age1new']), ['age1old', 'age1new']);
    const text = await readFile(join(dir, '.sops.yaml'), 'utf8');
    assert.match(text, /path_regex: \(\^\|\/\)overlays\/qa\/secrets\/\[\^\/\]\+\/\[\^\/\]\+\\\.yaml\$/);
    assert.equal(text.match(/path_regex/g)?.length, 1, 'one rule, rewritten in place');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
