/**
 * `npm run bump-image` on a copy of the repository: exactly one line of config/images.ts changes
 * (comments and formatting kept, a comment on that very line too), the compile follows (the
 * image reference in base/ and nothing else), and bad input changes nothing.
 */
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../../compiler/compile.ts';
import { editImage } from '../../compiler/codemods/image-ref.ts';
import { parseReference } from '../../compiler/codemods/image-input.ts';
import { tempRepo, type TempRepo } from '../support/temp-repo.ts';
import { runCli } from '../support/cli.ts';

const IMAGES = 'config/images.ts';
const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

let repo: TempRepo;

const bump = (...args: string[]) => runCli('bump-image.ts', [...args, '--root', repo.root]);

/** The lines that differ, as [line number, before, after]; the line count must not change. */
function changedLines(before: string, after: string): [number, string, string][] {
  const [a, b] = [before.split('\n'), after.split('\n')];
  assert.equal(b.length, a.length, 'the number of lines changed');
  return a.flatMap((line, index) => (line === b[index] ? [] : [[index + 1, line, b[index]!] as [number, string, string]]));
}

/** Output files that differ between two snapshots. */
function changedFiles(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...new Set([...before.keys(), ...after.keys()])].filter((file) => before.get(file) !== after.get(file)).sort();
}

before(async () => {
  repo = await tempRepo();
  // A comment on the very line the codemod edits, to prove it survives.
  const images = await repo.read(IMAGES);
  const snapLine = /^ {2}snap: \{.*\},$/m;
  assert.match(images, snapLine, `${IMAGES} no longer has the one-line snap entry this test edits`);
  await repo.write(IMAGES, images.replace(snapLine, (line) => `${line} // built by images.yml`));
  await compile({ root: repo.root });
});
after(async () => {
  await repo.remove();
});

test('a tag changes one line of config/images.ts, then the compile changes the image in base/', async () => {
  const [images, outputs] = [await repo.read(IMAGES), await repo.outputs()];
  const result = await bump('snap', '0.2.0-rc.1');
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(changedLines(images, await repo.read(IMAGES)), [
    [
      images.split('\n').findIndex((line) => line.startsWith('  snap:')) + 1,
      "  snap: { repository: 'ghcr.io/ms-stacklight/snap', tag: '0.1.0' }, // built by images.yml",
      "  snap: { repository: 'ghcr.io/ms-stacklight/snap', tag: '0.2.0-rc.1' }, // built by images.yml",
    ],
  ]);
  const now = await repo.outputs();
  assert.deepEqual(changedFiles(outputs, now), ['base/daemonset-collector.yaml']);
  const collector = now.get('base/daemonset-collector.yaml')!;
  assert.ok(collector.includes('image: ghcr.io/ms-stacklight/snap:0.2.0-rc.1'));
  assert.ok(!collector.includes('ghcr.io/ms-stacklight/snap:0.1.0'));
  assert.match(result.stdout, /changed {2}base\/daemonset-collector\.yaml/);
  assert.match(result.stdout, /bump-image: snap 0\.1\.0 → 0\.2\.0-rc\.1/);
});

test('a digest is added on the same line, and the compile pulls by digest', async () => {
  const images = await repo.read(IMAGES);
  const outputs = await repo.outputs();
  const result = await bump('influxdb', DIGEST);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(changedLines(images, await repo.read(IMAGES)).map(([, before, after]) => [before, after]), [
    [
      "  influxdb: { repository: 'ghcr.io/ms-stacklight/influxdb', tag: '0.1.0' },",
      `  influxdb: { repository: 'ghcr.io/ms-stacklight/influxdb', tag: '0.1.0', digest: '${DIGEST}' },`,
    ],
  ]);
  const now = await repo.outputs();
  assert.deepEqual(changedFiles(outputs, now), ['base/deployment-influxdb.yaml']);
  assert.ok(now.get('base/deployment-influxdb.yaml')!.includes(`image: ghcr.io/ms-stacklight/influxdb@${DIGEST}`));
});

test('on the real file: a new digest replaces the old, tag@digest sets both, a tag alone drops the digest', async () => {
  const images = await repo.read(IMAGES);
  const line = (text: string) => text.split('\n').find((l) => l.startsWith('  influxdb:'));
  const other = `sha256:${'f'.repeat(64)}` as const;
  const replaced = editImage(images, IMAGES, 'influxdb', { digest: other });
  assert.equal(line(replaced.text), `  influxdb: { repository: 'ghcr.io/ms-stacklight/influxdb', tag: '0.1.0', digest: '${other}' },`);
  const both = editImage(images, IMAGES, 'influxdb', { tag: '0.3.0', digest: other });
  assert.equal(line(both.text), `  influxdb: { repository: 'ghcr.io/ms-stacklight/influxdb', tag: '0.3.0', digest: '${other}' },`);
  const tagOnly = editImage(both.text, IMAGES, 'influxdb', { tag: '0.1.0' });
  assert.equal(line(tagOnly.text), "  influxdb: { repository: 'ghcr.io/ms-stacklight/influxdb', tag: '0.1.0' },");
  for (const edit of [replaced, both, tagOnly]) assert.equal(edit.changes.length, 1);
  // The tag it already has keeps the digest that pins it.
  assert.deepEqual(editImage(both.text, IMAGES, 'influxdb', { tag: '0.3.0' }).changes, []);
});

test('the same reference again changes nothing', async () => {
  const images = await repo.read(IMAGES);
  const result = await bump('grafana', '0.1.0');
  assert.equal(result.code, 0);
  assert.match(result.stdout, /grafana is already 0\.1\.0; nothing to change/);
  assert.equal(await repo.read(IMAGES), images);
});

test('bad input: a clear error, exit 1, nothing changed', async () => {
  const [images, outputs] = [await repo.read(IMAGES), await repo.outputs()];
  const cases: [string[], RegExp][] = [
    [['snapd', '0.2.0'], /unknown component "snapd": expected one of snap, hindsight, influxdb, grafana/],
    [['snap', 'latest'], /"latest" names no build/],
    [['snap', 'v1 2'], /"v1 2" is not an image tag/],
    [['snap', 'sha256:abc'], /"sha256:abc" is not a digest: expected sha256: followed by 64 lower-case hex digits/],
    [['snap'], /usage: npm run bump-image -- <component> <tag\|sha256:<64 hex>\|tag@sha256:<64 hex>>/],
  ];
  for (const [args, message] of cases) {
    const result = await bump(...args);
    assert.equal(result.code, 1, `${args.join(' ')} succeeded`);
    assert.match(result.stderr, message, args.join(' '));
    assert.match(result.stderr, /^bump-image: /);
  }
  assert.equal(await repo.read(IMAGES), images);
  assert.deepEqual(changedFiles(outputs, await repo.outputs()), []);
  // The same checks, without a process each.
  const invalid: [string, string, RegExp][] = [
    ['snap', '.hidden', /"\.hidden" is not an image tag/],
    ['snap', '-rc1', /"-rc1" is not an image tag/],
    ['snap', 'x'.repeat(129), /is not an image tag/],
    ['snap', `sha256:${'A'.repeat(64)}`, /is not a digest/],
    ['snap', `0.2.0@sha256:${'0'.repeat(63)}`, /is not a digest/],
    ['Snap', '0.2.0', /unknown component "Snap"/],
  ];
  for (const [component, reference, message] of invalid) assert.throws(() => parseReference(component, reference), message);
  assert.deepEqual(parseReference('grafana', `1.2.3@${DIGEST}`), { component: 'grafana', update: { tag: '1.2.3', digest: DIGEST } });
});

test('when the compile fails, config/images.ts is put back and nothing is written', async () => {
  const [images, outputs] = [await repo.read(IMAGES), await repo.outputs()];
  const dev = 'config/environments/dev.ts';
  const devConfig = await repo.read(dev);
  await repo.write(dev, devConfig.replace("retention: '7d'", "retention: '3x'"));
  try {
    const result = await bump('hindsight', '0.2.0');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /the compile rejected the new reference; config\/images\.ts is restored and nothing was written/);
    assert.match(result.stderr, /dev\.influxdb\.retention/);
    assert.equal(await repo.read(IMAGES), images);
    assert.deepEqual(changedFiles(outputs, await repo.outputs()), []);
  } finally {
    await repo.write(dev, devConfig);
  }
});

test('the codemod keeps quotes and multi-line objects as they are', () => {
  const source = `// header
export const images = {
  snap: {
    repository: "ghcr.io/ms-stacklight/snap", // double quotes
    tag: "0.1.0",
    digest: "sha256:${'a'.repeat(64)}",
  },
  'hindsight': { repository: 'x/h', tag: \`0.1.0\` },
} satisfies Record<string, unknown>;
`;
  const tag = editImage(source, 'images.ts', 'snap', { tag: '0.2.0' });
  assert.equal(tag.text, source.replace('"0.1.0",\n    digest: "sha256:' + 'a'.repeat(64) + '"', '"0.2.0"'));
  const digest = editImage(source, 'images.ts', 'snap', { digest: `sha256:${'b'.repeat(64)}` });
  assert.deepEqual(digest.changes, [{ line: 6, before: `    digest: "sha256:${'a'.repeat(64)}",`, after: `    digest: "sha256:${'b'.repeat(64)}",` }]);
  const quoted = editImage(source, 'images.ts', 'hindsight', { tag: '0.2.0' });
  assert.deepEqual(quoted.changes, [{ line: 8, before: "  'hindsight': { repository: 'x/h', tag: `0.1.0` },", after: "  'hindsight': { repository: 'x/h', tag: `0.2.0` }," }]);
  assert.throws(() => editImage('export const images = {', 'images.ts', 'snap', { tag: '1' }), /images\.ts:1: '}' expected/);
  assert.throws(() => editImage(source, 'images.ts', 'grafana', { tag: '1' }), /no `grafana: \{ \.\.\. \}` entry in images/);
});
