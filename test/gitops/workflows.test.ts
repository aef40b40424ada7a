/**
 * The GitHub Actions workflows and the Renovate config, checked here before GitHub sees them:
 * every workflow is valid YAML and passes actionlint (the pinned Go program, which runs
 * shellcheck on every `run:` script); the workflows this repository depends on have the
 * triggers and permissions they need; renovate.json is valid JSON and its regular expressions
 * find every image of config/images.ts and every annotated version of images/*\/Dockerfile.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseDocument } from 'yaml';
import { REPO_ROOT, tool } from '../../compiler/tools.ts';
import { images } from '../../config/images.ts';
import { editImage } from '../../compiler/codemods/image-ref.ts';

const run = promisify(execFile);
const WORKFLOWS = join(REPO_ROOT, '.github/workflows');
const SHELLCHECK = '/usr/bin/shellcheck';

async function workflowFiles(): Promise<string[]> {
  return (await readdir(WORKFLOWS)).filter((name) => /\.ya?ml$/.test(name)).sort();
}

/** What the tests read of a GitHub Actions workflow, as parsed from its YAML. */
interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  needs?: string | string[];
  if?: string;
  strategy?: { matrix: Record<string, string[]> };
  steps?: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  env?: Record<string, string>;
  jobs: Record<string, Job>;
}

async function workflow(name: string): Promise<Workflow> {
  return parseDocument(await readFile(join(WORKFLOWS, name), 'utf8')).toJS() as Workflow;
}

/** A job of the workflow, which must have it. */
function jobOf(flow: Workflow, name: string): Job {
  const job = flow.jobs[name];
  assert.ok(job, `no job ${name}`);
  return job;
}

/** The first step that uses the action, which must be there. */
function usesStep(steps: readonly Step[], action: string): Step {
  const step = steps.find((candidate) => String(candidate.uses).startsWith(`${action}@`));
  assert.ok(step, `no step uses ${action}`);
  return step;
}

const scriptOf = (steps: readonly Step[] = []) => steps.map((step) => step.run ?? '').join('\n');

test('every workflow is valid YAML with triggers and jobs, and every action is pinned to a version', async () => {
  const files = await workflowFiles();
  for (const expected of ['ci.yml', 'images.yml', 'pr-diff.yml', 'renovate-recompile.yml']) assert.ok(files.includes(expected), `${expected} is missing`);
  for (const file of files) {
    const document = parseDocument(await readFile(join(WORKFLOWS, file), 'utf8'), { uniqueKeys: true, prettyErrors: true });
    assert.deepEqual(document.errors.map((error) => error.message), [], `${file} is not valid YAML`);
    const flow = document.toJS() as Workflow;
    assert.ok(flow.on && typeof flow.jobs === 'object', `${file}: no triggers or no jobs`);
    for (const [name, job] of Object.entries(flow.jobs)) {
      for (const step of job.steps ?? []) {
        if (step.uses) assert.match(step.uses, /^[\w.-]+\/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$/, `${file} ${name}: ${step.uses} is not pinned to a version`);
      }
    }
  }
});

test('every workflow passes actionlint, with shellcheck on the run scripts', async () => {
  await access(SHELLCHECK).catch(() => assert.fail(`${SHELLCHECK} is missing (npm run setup installs it): actionlint would skip the run scripts`));
  const actionlint = await tool('actionlint');
  const files = (await workflowFiles()).map((file) => join(WORKFLOWS, file));
  try {
    await run(actionlint, ['-no-color', '-shellcheck', SHELLCHECK, ...files], { cwd: REPO_ROOT });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    assert.fail(`actionlint:\n${stdout ?? ''}${stderr ?? ''}`);
  }
});

test('actionlint is not a rubber stamp: an unquoted variable in a run script fails', async () => {
  const actionlint = await tool('actionlint');
  const dir = await mkdtemp(join(tmpdir(), 'stacklight-actionlint-'));
  try {
    const quoted = 'npm run -s diff -- --base "origin/${BASE_REF}" > diff.md';
    const text = await readFile(join(WORKFLOWS, 'pr-diff.yml'), 'utf8');
    assert.ok(text.includes(quoted));
    await writeFile(join(dir, 'pr-diff.yml'), text.replace(quoted, 'npm run -s diff -- --base origin/$BASE_REF > diff.md'));
    await assert.rejects(run(actionlint, ['-no-color', '-shellcheck', SHELLCHECK, join(dir, 'pr-diff.yml')]), (error: { stdout?: string }) => {
      assert.match(error.stdout ?? '', /SC2086/);
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('pr-diff: one comment per pull request, found again by its marker, with only the permissions it needs', async () => {
  const flow = await workflow('pr-diff.yml');
  assert.deepEqual(Object.keys(flow.on), ['pull_request']);
  assert.deepEqual(flow.permissions, { contents: 'read', 'pull-requests': 'write' });
  const steps = jobOf(flow, 'diff').steps ?? [];
  assert.equal(usesStep(steps, 'actions/checkout').with?.['fetch-depth'], 0, 'the base ref needs the full history');
  const script = scriptOf(steps);
  for (const command of ['npm ci', 'npm run tools', 'npm run -s diff -- --base "origin/${BASE_REF}" > diff.md']) assert.ok(script.includes(command), command);
  const comment = String(usesStep(steps, 'actions/github-script').with?.['script']);
  assert.ok(comment.includes("'<!-- stacklight-diff -->'") && comment.includes('updateComment') && comment.includes('createComment'));
});

test('renovate-recompile: on Renovate branches, compile, and push only when something changed', async () => {
  const flow = await workflow('renovate-recompile.yml');
  assert.deepEqual(flow.on, { push: { branches: ['renovate/**'] } });
  assert.deepEqual(flow.permissions, { contents: 'write' });
  const script = scriptOf(jobOf(flow, 'recompile').steps);
  for (const command of ['npm ci', 'npm run compile', 'git status --porcelain', 'git push']) assert.ok(script.includes(command), command);
  const renovate = JSON.parse(await readFile(join(REPO_ROOT, 'renovate.json'), 'utf8'));
  assert.ok(script.includes(`git config user.email '${renovate.gitIgnoredAuthors[0]}'`), 'Renovate must ignore the bot that commits the output');
  assert.equal(renovate.branchPrefix, 'renovate/');
});

test('ci: on every push and pull request; compile must change nothing; kubeconform -strict checks every object, Secrets included; actionlint', async () => {
  const flow = await workflow('ci.yml');
  assert.deepEqual(flow.on, { pull_request: null, push: null }, 'every pull request and every push, on any branch');
  const steps = jobOf(flow, 'test').steps ?? [];
  const script = steps.map((step) => `${step.run ?? ''}\n${JSON.stringify(step.env ?? {})}`).join('\n');
  const current = steps.find((step) => String(step.run ?? '').includes('npm run compile'))?.run ?? '';
  assert.match(current, /npm run compile\n\s*if \[ -n "\$\(git status --porcelain\)" \]; then[\s\S]*exit 1/, 'a compile that changes or adds a file fails the job');
  assert.match(script, /go install "github\.com\/yannh\/kubeconform\/cmd\/kubeconform@\$\{KUBECONFORM_VERSION\}"/);
  assert.match(script, /"KUBECONFORM_VERSION":"v\d+\.\d+\.\d+"/);
  assert.ok(script.includes('npm run -s build -- "$dir" --schema-input | .tools/bin/kubeconform -strict -summary'));
  assert.doesNotMatch(script, /-skip/, 'no kind is skipped');
  assert.ok(script.includes("-schema-location 'https://raw.githubusercontent.com/datreeio/CRDs-catalog/main/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json'"));
  assert.match(script, /"\$actionlint" -color/);
  const order = ['npm run setup', 'npm run compile', 'npm run validate', 'kubeconform -strict', 'npm test'].map((command) => script.indexOf(command));
  assert.ok(order.every((index) => index >= 0), `every step is there: ${order}`);
  assert.deepEqual([...order].sort((a, b) => a - b), order, 'setup, compile, validate, kubeconform, test, in that order');
});

test('images: buildx with a cache per image, pushed to GHCR by commit on main only, then one bump pull request with the recompiled output', async () => {
  const flow = await workflow('images.yml');
  assert.deepEqual(flow.on['push'], { branches: ['main'], paths: ['images/**', '.github/workflows/images.yml'] });
  assert.ok('workflow_dispatch' in flow.on && 'pull_request' in flow.on);
  assert.equal(flow.env?.['PUSH'], "${{ github.event_name != 'pull_request' && github.ref == 'refs/heads/main' }}");
  const build = jobOf(flow, 'build');
  const imageDirs = await readdir(join(REPO_ROOT, 'images'), { withFileTypes: true });
  const dockerfiles = imageDirs.filter((entry) => entry.isDirectory() && existsSync(join(REPO_ROOT, 'images', entry.name, 'Dockerfile'))).map((entry) => entry.name);
  const matrixImages = [...(build.strategy?.matrix['image'] ?? [])].sort();
  assert.deepEqual(matrixImages, [...dockerfiles].sort(), 'one matrix entry per images/<name>');
  assert.deepEqual(matrixImages, Object.keys(images).sort(), 'one matrix entry per image of config/images.ts');
  const steps = build.steps ?? [];
  assert.ok(steps.some((step) => String(step.uses).startsWith('docker/setup-buildx-action@')));
  const builds = steps.filter((step) => String(step.uses).startsWith('docker/build-push-action@'));
  for (const step of builds) assert.match(String(step.with?.['cache-from']), /^type=gha,scope=\$\{\{ matrix\.image \}\}/);
  const push = builds.find((step) => step.with?.['push'] === true);
  assert.ok(push, 'one build pushes');
  assert.equal(push.if, "env.PUSH == 'true'");
  assert.equal(push.with?.['tags'], '${{ steps.name.outputs.repository }}:${{ github.sha }}', 'tagged by commit');
  assert.equal(usesStep(steps, 'docker/login-action').with?.['registry'], '${{ env.REGISTRY }}');
  assert.equal(flow.env?.['REGISTRY'], 'ghcr.io');
  for (const image of dockerfiles) {
    assert.ok(steps.some((step) => step.name === `Smoke test (${image})` && step.if === `matrix.image == '${image}'`), `${image} is smoke-tested`);
  }
  const bump = jobOf(flow, 'bump');
  assert.equal(bump.needs, 'build');
  assert.equal(bump.if, "github.event_name != 'pull_request' && github.ref == 'refs/heads/main'");
  const bumpScript = scriptOf(bump.steps);
  assert.ok(bumpScript.includes('npm run --silent bump-image -- "$image" "$(cat "$file")"'), 'bump-image edits config/images.ts and recompiles');
  const pr = usesStep(bump.steps ?? [], 'peter-evans/create-pull-request');
  assert.match(String(pr.with?.['branch']), /^images\/bump-/);
});

interface CustomManager {
  customType: string;
  managerFilePatterns: string[];
  matchStrings: string[];
  datasourceTemplate?: string;
}

/** Renovate's `/regex/` file patterns as RegExps. */
function filePattern(pattern: string): RegExp {
  const match = /^\/(.*)\/$/.exec(pattern);
  assert.ok(match, `${pattern}: write file patterns as /regex/`);
  return new RegExp(match[1]!);
}

async function managers(): Promise<CustomManager[]> {
  const config = JSON.parse(await readFile(join(REPO_ROOT, 'renovate.json'), 'utf8'));
  assert.equal(config.$schema, 'https://docs.renovatebot.com/renovate-schema.json');
  for (const manager of config.customManagers as CustomManager[]) {
    assert.equal(manager.customType, 'regex');
    // Renovate runs them with RE2: no lookaround, no backreferences.
    for (const source of manager.matchStrings) assert.doesNotMatch(source, /\(\?[=!]|\(\?<[=!]|\\[1-9]/, `${source} is not RE2`);
  }
  return config.customManagers;
}

function matchAll(manager: CustomManager, text: string): Record<string, string | undefined>[] {
  return manager.matchStrings.flatMap((source) => [...text.matchAll(new RegExp(source, 'g'))].map((match) => ({ ...match.groups })));
}

test('renovate.json: its regex finds every image of config/images.ts, with its tag, and a digest when there is one', async () => {
  const manager = (await managers()).find((m) => m.managerFilePatterns.some((p) => filePattern(p).test('config/images.ts')));
  assert.ok(manager, 'no custom manager reads config/images.ts');
  assert.equal(manager.datasourceTemplate, 'docker');
  const text = await readFile(join(REPO_ROOT, 'config/images.ts'), 'utf8');
  const found = matchAll(manager, text);
  assert.deepEqual(
    found.map(({ depName, currentValue, currentDigest }) => ({ depName, currentValue, currentDigest })),
    Object.values(images).map((image) => ({ depName: image.repository, currentValue: image.tag, currentDigest: image.digest })),
  );
  // After `bump-image snap sha256:...` the same entry is found, digest included.
  const digest = `sha256:${'c'.repeat(64)}` as const;
  const pinned = editImage(text, 'config/images.ts', 'snap', { digest }).text;
  const snap = matchAll(manager, pinned).find((groups) => groups.depName === images.snap.repository);
  assert.deepEqual(snap, { depName: images.snap.repository, currentValue: images.snap.tag, currentDigest: digest });
});

test('renovate.json: annotated ARGs of images/*/Dockerfile are found; every annotation in the repository matches', async () => {
  const manager = (await managers()).find((m) => m.managerFilePatterns.some((p) => filePattern(p).test('images/influxdb/Dockerfile')));
  assert.ok(manager, 'no custom manager reads images/*/Dockerfile');
  const sample = [
    'FROM debian:bookworm-slim',
    '# renovate: datasource=github-tags depName=intelsdi-x/snap extractVersion=^v(?<version>.+)$',
    'ARG SNAP_VERSION=2.0.0',
    '# renovate: datasource=github-releases depName=mozilla-services/lua_sandbox_extensions packageName=mozilla-services/lua_sandbox_extensions versioning=loose',
    '  ARG LSB_EXT_VERSION="1.0.3"',
    '# renovate: datasource=deb depName=influxdb registryUrl=https://deb.debian.org/debian?suite=bookworm&components=main&binaryArch=amd64',
    'ARG INFLUXDB_VERSION=1.6.7~rc0-1+b13',
    '# an ordinary comment',
    'ARG NOT_TRACKED=1.0.0',
    '',
  ].join('\n');
  assert.deepEqual(matchAll(manager, sample), [
    { datasource: 'github-tags', depName: 'intelsdi-x/snap', packageName: undefined, versioning: undefined, extractVersion: '^v(?<version>.+)$', registryUrl: undefined, currentValue: '2.0.0' },
    { datasource: 'github-releases', depName: 'mozilla-services/lua_sandbox_extensions', packageName: 'mozilla-services/lua_sandbox_extensions', versioning: 'loose', extractVersion: undefined, registryUrl: undefined, currentValue: '1.0.3' },
    { datasource: 'deb', depName: 'influxdb', packageName: undefined, versioning: undefined, extractVersion: undefined, registryUrl: 'https://deb.debian.org/debian?suite=bookworm&components=main&binaryArch=amd64', currentValue: '1.6.7~rc0-1+b13' },
  ]);
  // The Dockerfiles as they are: an annotation the regex misses would silently never be updated.
  const dirs = await readdir(join(REPO_ROOT, 'images'), { withFileTypes: true });
  for (const dir of dirs.filter((entry) => entry.isDirectory())) {
    const path = `images/${dir.name}/Dockerfile`;
    const text = await readFile(join(REPO_ROOT, path), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    assert.ok(manager.managerFilePatterns.some((p) => filePattern(p).test(path)), `${path} is not read`);
    const annotations = text.split('\n').filter((line) => line.trimStart().startsWith('# renovate:')).length;
    assert.equal(matchAll(manager, text).length, annotations, `${path}: an annotation is not followed by ARG <NAME>=<version>`);
  }
});

test('images.yml: the Hindsight smoke test\'s own hindsight.cfg is one Hindsight 0.16 accepts (the stage\'s hs_config.lua reads it as hs_config.c does)', async () => {
  const text = await readFile(join(WORKFLOWS, 'images.yml'), 'utf8');
  const heredoc = /cat > "\$dir\/hindsight\.cfg" <<'EOF'\n([\s\S]*?)\n\s*EOF/.exec(text);
  assert.ok(heredoc, 'no hindsight.cfg heredoc in the smoke test');
  const dir = await mkdtemp(join(tmpdir(), 'smoke-cfg-'));
  try {
    const cfg = join(dir, 'hindsight.cfg');
    await writeFile(cfg, `${heredoc[1]!.split('\n').map((line) => line.trim()).join('\n')}\n`);
    const lib = join(REPO_ROOT, 'test/support/hindsight-stage/lib/?.lua');
    const script = `package.path = ${JSON.stringify(lib)} .. ";" .. package.path
      local cfg, err = require("hs_config").load(${JSON.stringify(cfg)})
      if not cfg then io.stderr:write(err, "\\n") os.exit(1) end
      print(#cfg.output_path > 0 and "accepted")`;
    const { stdout } = await run('lua5.1', ['-e', script]);
    assert.equal(stdout.trim(), 'accepted');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
