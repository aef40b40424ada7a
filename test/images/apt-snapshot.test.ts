/**
 * images/shared/apt-snapshot.sh, the one place the Debian snapshot is pinned: apt itself reads
 * the sources it writes (and finds only the pinned snapshot there), the pin table of
 * images/README.md says the same date, and every way of building an image that runs it (the
 * images workflow, the README's commands, the Dockerfiles' own "Build:" lines) passes the build
 * context it is mounted from.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { APT_SNAPSHOT, IMAGE_NAMES, readDockerfile } from './dockerfiles.ts';
import { REPO, imagePath, run } from './support.ts';

const SCRIPT = imagePath('shared', APT_SNAPSHOT.script);
const USERS = IMAGE_NAMES.filter((image) => readDockerfile(image).text.includes(APT_SNAPSHOT.script));

/** The URIs `apt-get update` would fetch for these sources (nothing is downloaded). */
async function aptIndexUris(sources: string, dir: string): Promise<string[]> {
  await mkdir(path.join(dir, 'parts'));
  await mkdir(path.join(dir, 'lists/partial'), { recursive: true });
  await writeFile(path.join(dir, 'parts/debian.sources'), sources);
  const options = ['Dir::Etc::sourcelist=/dev/null', `Dir::Etc::sourceparts=${dir}/parts`, `Dir::State::Lists=${dir}/lists`, `Dir::Cache=${dir}/cache`];
  const result = await run('apt-get', ['update', '--print-uris', ...options.flatMap((option) => ['-o', option])]);
  assert.equal(result.code, 0, result.stderr);
  return [...result.stdout.matchAll(/^'([^']+)'/gm)].map((match) => match[1] ?? '');
}

describe('images/shared/apt-snapshot.sh', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'stacklight-apt-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is used by the images that install Debian packages', () => {
    assert.deepEqual(USERS, ['snap', 'hindsight', 'influxdb']);
  });

  it('writes sources that apt reads, naming only the pinned snapshot, the one images/README.md gives', async () => {
    const sources = await run('sh', [SCRIPT, '--sources']);
    assert.equal(sources.code, 0, sources.stderr);
    const uris = await aptIndexUris(sources.stdout, dir);
    const readme = await readFile(imagePath('README.md'), 'utf8');
    const snapshot = /Debian packages from snapshot `(\d{8}T\d{6}Z)`/.exec(readme)?.[1];
    assert.ok(snapshot, 'images/README.md names no snapshot');
    const releases = uris.filter((uri) => uri.endsWith('/InRelease'));
    assert.deepEqual(releases, [
      `http://snapshot.debian.org/archive/debian/${snapshot}/dists/bookworm/InRelease`,
      `http://snapshot.debian.org/archive/debian/${snapshot}/dists/bookworm-updates/InRelease`,
      `http://snapshot.debian.org/archive/debian-security/${snapshot}/dists/bookworm-security/InRelease`,
    ]);
    for (const uri of uris) assert.match(uri, new RegExp(`^http://snapshot\\.debian\\.org/archive/debian(-security)?/${snapshot}/`));
  });

  it('refuses to run without a package (it would only rewrite the sources)', async () => {
    const result = await run('sh', [SCRIPT]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /usage/);
  });

  it('every build of an image that runs it passes the build context it is mounted from', async () => {
    const workflow = parseYaml(await readFile(path.join(REPO, '.github/workflows/images.yml'), 'utf8')) as {
      jobs: Record<string, { steps: { uses?: string; with?: Record<string, string> }[] }>;
    };
    const builds = Object.values(workflow.jobs).flatMap((job) => job.steps.filter((step) => step.uses?.startsWith('docker/build-push-action')));
    assert.ok(builds.length > 0, 'the images workflow builds nothing');
    for (const step of builds) assert.match(step.with?.['build-contexts'] ?? '', new RegExp(`^${APT_SNAPSHOT.context}$`, 'm'));
    const readme = await readFile(imagePath('README.md'), 'utf8');
    for (const image of USERS) {
      const commands = [
        ...[...readme.matchAll(/^docker build .*$/gm)].map((match) => match[0]).filter((line) => line.endsWith(` images/${image}`)),
        ...(readDockerfile(image).text.match(/^# Build: docker build .*$/m) ?? []),
      ];
      assert.ok(commands.length >= 2, `no build command for ${image} in images/README.md or its Dockerfile`);
      for (const command of commands) assert.ok(command.includes(`--build-context ${APT_SNAPSHOT.context}`), command);
    }
  });
});
