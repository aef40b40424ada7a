/**
 * compiler/cli/launch.mjs, which every `npm run <cli>` goes through: it runs the CLIs from an
 * esbuild bundle, and the bundle is never stale. Exercised on a copy of compiler/ (its packages
 * linked from the repository's node_modules), where a source can be edited without touching ours.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../compiler/tools.ts';
import { tempRepo, type TempRepo } from '../support/temp-repo.ts';

const run = promisify(execFile);
let copy: string;
let repo: TempRepo;

before(async () => {
  copy = await mkdtemp(join(tmpdir(), 'stacklight-launch-'));
  await cp(join(REPO_ROOT, 'compiler'), join(copy, 'compiler'), { recursive: true });
  await cp(join(REPO_ROOT, 'package-lock.json'), join(copy, 'package-lock.json'));
  await mkdir(join(copy, 'node_modules'));
  for (const entry of await readdir(join(REPO_ROOT, 'node_modules'))) {
    if (entry !== '.cache') await symlink(join(REPO_ROOT, 'node_modules', entry), join(copy, 'node_modules', entry));
  }
  repo = await tempRepo();
});
after(async () => {
  await rm(copy, { recursive: true, force: true });
  await repo?.remove();
});

const launch = (...args: string[]) => run(process.execPath, [join(copy, 'compiler/cli/launch.mjs'), ...args], { cwd: copy });
const bundles = () => readdir(join(copy, 'node_modules/.cache/stacklight/cli')).then((names) => names.filter((name) => !name.endsWith('.tmp')));

test('the first run bundles the CLIs and compiles; the next runs reuse the bundle', async () => {
  const first = await launch('compile', '--root', repo.root);
  assert.match(first.stdout, /^compile: \d+ written, 0 changed, 0 removed, \d+ unchanged$/m);
  const [bundle] = await bundles();
  assert.ok(bundle, 'no bundle was made');
  const second = await launch('compile', '--root', repo.root);
  assert.match(second.stdout, /^compile: 0 written, 0 changed, 0 removed, \d+ unchanged$/m);
  assert.deepEqual(await bundles(), [bundle]);
});

test('an edited source makes a new bundle before the next run, and the old one goes', async () => {
  const [before] = await bundles();
  const cli = join(copy, 'compiler/cli/compile.ts');
  await writeFile(cli, (await readFile(cli, 'utf8')).replace('`compile: ${report.written.length} written', '`compiled: ${report.written.length} written'));
  const { stdout } = await launch('compile', '--root', repo.root);
  assert.match(stdout, /^compiled: 0 written/m, 'the run used a stale bundle');
  const after = await bundles();
  assert.equal(after.length, 1);
  assert.notEqual(after[0], before);
});

test('an unknown CLI is refused with the list of CLIs', async () => {
  await assert.rejects(launch('compyle'), (error: { code?: number; stderr?: string }) => {
    assert.equal(error.code, 2);
    assert.match(error.stderr ?? '', /cli is one of: .*compile.*validate/);
    return true;
  });
});

test('the bundled validator reports a schema problem in English (the bundle carries ajv-i18n English only)', async () => {
  await launch('compile', '--root', repo.root);
  const service = join(repo.root, 'base/service-influxdb.yaml');
  const original = await readFile(service, 'utf8');
  await writeFile(service, original.replace(/^( +port:) \d+$/m, '$1 "eighty"'));
  try {
    await assert.rejects(launch('validate', '--root', repo.root), (error: { stdout?: string }) => {
      assert.match(error.stdout ?? '', /Service\/influxdb: spec\/ports\/0\/port must be integer/);
      return true;
    });
  } finally {
    await writeFile(service, original);
  }
  const [bundle] = await bundles();
  const chunks = await readdir(join(copy, 'node_modules/.cache/stacklight/cli', bundle!));
  const sources = await Promise.all(chunks.map((chunk) => readFile(join(copy, 'node_modules/.cache/stacklight/cli', bundle!, chunk), 'utf8')));
  // esbuild heads each module with its path (here through the copy's symlinked node_modules)
  const i18nModules = new Set([...sources.join('\n').matchAll(/^\/\/ .*?node_modules\/(ajv-i18n\/.*)$/gm)].map((match) => match[1]));
  assert.deepEqual([...i18nModules], ['ajv-i18n/localize/en/index.js']);
});

test('a run leaves V8 code caches beside the bundle; a cache V8 refuses is replaced, and the run is right all the same', async () => {
  await launch('compile', '--root', repo.root);
  const [bundle] = await bundles();
  const cache = join(copy, 'node_modules/.cache/stacklight/cli', bundle!, 'compile.cjs.v8-cache');
  const made = await readFile(cache);
  assert.ok(made.length > 100_000, `the code cache holds ${made.length} bytes`);
  await writeFile(cache, 'not a code cache');
  const { stdout } = await launch('compile', '--root', repo.root);
  // (an earlier test renamed the line's first word in this copy)
  assert.match(stdout, /^compiled?: 0 written, 0 changed, 0 removed, \d+ unchanged$/m);
  const remade = await readFile(cache);
  assert.ok(remade.length > 100_000, 'the refused cache was not replaced');
});

test('an Argo CD environment compiles and validates through the bundle (a bundled ES module that reads import.meta.url)', async () => {
  const stackFile = join(repo.root, 'config/stack.ts');
  const original = await readFile(stackFile, 'utf8');
  const argocd = original.replace(/^( +engine:) 'flux',$/m, "$1 'argocd',");
  assert.notEqual(argocd, original, 'config/stack.ts has no `engine: \'flux\',` line to switch');
  await writeFile(stackFile, argocd);
  try {
    const compiled = await launch('compile', '--root', repo.root);
    assert.match(compiled.stdout, /^compiled?: \d+ written, \d+ changed, \d+ removed, \d+ unchanged$/m);
    const validated = await launch('validate', '--root', repo.root);
    assert.match(validated.stdout, /^ok {3}clusters\/dev: \d+ objects/m);
  } finally {
    await writeFile(stackFile, original);
    await launch('compile', '--root', repo.root);
  }
});
