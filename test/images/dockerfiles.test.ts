/**
 * Static checks of images/: every Dockerfile parses, every base image is pinned, the compiled
 * images are multi-stage with no toolchain in the final stage, the final stage runs as a
 * non-root user, and every shell script passes shellcheck. Each check is also shown to reject a
 * Dockerfile that breaks it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Keyword } from 'dockerfile-ast';
import {
  APT_SNAPSHOT,
  COMPILED,
  IMAGE_NAMES,
  aptProblems,
  argumentsOf,
  finalUser,
  instructionsOf,
  parseDockerfile,
  parseProblems,
  readDockerfile,
  shellScripts,
  type ParsedDockerfile,
} from './dockerfiles.ts';
import { imagePath, run } from './support.ts';
import { REPO_ROOT } from '../../compiler/tools.ts';

/** Why an image reference is not pinned (undefined when it is pinned by digest). */
export function pinProblem(reference: string): string | undefined {
  if (/\$\{?\w+/.test(reference)) return `${reference} uses a build argument without a default`;
  const digest = /@sha256:[0-9a-f]{64}$/.test(reference);
  const withoutDigest = reference.replace(/@sha256:[0-9a-f]{64}$/, '');
  const lastSegment = withoutDigest.split('/').at(-1) ?? '';
  const tag = lastSegment.includes(':') ? lastSegment.split(':').at(-1) : undefined;
  if (tag === 'latest') return `${reference} uses the tag latest`;
  if (!tag && !digest) return `${reference} is untagged`;
  if (!digest) return `${reference} is not pinned by digest`;
  return undefined;
}

/** Problems with the FROM lines: unpinned external images (stage references are fine). */
function baseImageProblems(parsed: ParsedDockerfile): string[] {
  const stageNames = new Set<string>();
  const problems: string[] = [];
  for (const stage of parsed.stages) {
    if (!stageNames.has(stage.image)) {
      const problem = pinProblem(stage.image);
      if (problem) problems.push(problem);
    }
    if (stage.name) stageNames.add(stage.name);
  }
  return problems;
}

const TOOLCHAIN = /\b(go|gcc|g\+\+|cc|clang|cmake|make|build-essential|golang(-go)?|ninja)\b/;

/** Problems with a compiled image's stages: single stage, or a toolchain reaching the final stage. */
function toolchainProblems(parsed: ParsedDockerfile): string[] {
  const problems: string[] = [];
  if (parsed.stages.length < 2) problems.push('single stage: the build toolchain ships in the image');
  const { final } = parsed;
  if (/golang|gcc|buildpack|rust|cmake/.test(final.image)) problems.push(`the final stage starts from a toolchain image (${final.image})`);
  const buildStages = new Set(parsed.stages.slice(0, -1).map((stage) => stage.name).filter(Boolean));
  if (buildStages.has(final.image)) problems.push('the final stage starts from a build stage');
  for (const instruction of instructionsOf(final, Keyword.RUN)) {
    const text = argumentsOf(instruction).join(' ');
    const match = TOOLCHAIN.exec(text);
    if (match) problems.push(`the final stage runs or installs a toolchain (${match[0]}): ${text.slice(0, 80)}`);
  }
  for (const instruction of instructionsOf(final, Keyword.COPY)) {
    const sources = argumentsOf(instruction).slice(0, -1);
    for (const source of sources) {
      if (/^\/(usr\/local\/go|go|root)?\/?$/.test(source) || /\/go\/bin|\/usr\/local\/go/.test(source)) {
        problems.push(`the final stage copies a toolchain path ${source}`);
      }
    }
  }
  return problems;
}

/**
 * Problems with the build arguments that name upstream sources: a source is fetched by a full
 * commit (`*_COMMIT`) or checked against a SHA-256 (`*_SHA256`); a tag or branch can move.
 */
function sourcePinProblems(parsed: ParsedDockerfile): string[] {
  const problems: string[] = [];
  for (const instruction of parsed.dockerfile.getInstructions()) {
    if (instruction.getKeyword() !== Keyword.ARG) continue;
    const [declaration = ''] = argumentsOf(instruction);
    const [name = '', value = ''] = declaration.split('=', 2);
    if (/_(REF|TAG|BRANCH)$/.test(name)) problems.push(`${name} fetches a movable ref (${value || 'no default'})`);
    if (name.endsWith('_COMMIT') && !/^[0-9a-f]{40}$/.test(value)) problems.push(`${name}=${value} is not a full commit`);
    if (name.endsWith('_SHA256') && !/^[0-9a-f]{64}$/.test(value)) problems.push(`${name}=${value} is not a SHA-256`);
  }
  return problems;
}

function userProblems(parsed: ParsedDockerfile): string[] {
  const user = finalUser(parsed);
  if (!user) return ['the final stage sets no USER (runs as root)'];
  const [name] = user.split(':');
  if (name === 'root' || name === '0') return [`the final stage runs as ${user}`];
  return [];
}

describe('Dockerfiles', () => {
  for (const image of IMAGE_NAMES) {
    describe(`images/${image}/Dockerfile`, () => {
      const parsed = readDockerfile(image);

      it('parses, with known instructions and exec-form ENTRYPOINT/CMD', () => {
        assert.deepEqual(parseProblems(parsed), []);
        assert.ok(parsed.stages.length >= 1);
      });

      it('pins every base image by digest (no latest, no untagged)', () => {
        assert.deepEqual(baseImageProblems(parsed), []);
      });

      it('fetches every upstream source by full commit or SHA-256, never by tag or branch', () => {
        assert.deepEqual(sourcePinProblems(parsed), []);
      });

      it('installs Debian packages only from the pinned snapshot (images/shared/apt-snapshot.sh)', () => {
        assert.deepEqual(aptProblems(parsed), []);
      });

      it('runs as a non-root user in the final stage', () => {
        assert.deepEqual(userProblems(parsed), []);
      });

      it('bakes in no secret (no password/token build argument or environment)', () => {
        for (const instruction of [...parsed.dockerfile.getInstructions()]) {
          if (instruction.getKeyword() !== Keyword.ARG && instruction.getKeyword() !== Keyword.ENV) continue;
          for (const value of argumentsOf(instruction)) {
            assert.doesNotMatch(value, /(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY)/i, value);
          }
        }
      });

      if (COMPILED.includes(image)) {
        it('is multi-stage with no toolchain in the final stage', () => {
          assert.deepEqual(toolchainProblems(parsed), []);
        });
      }
    });
  }

  it('the Grafana image and the dashboards\' SDK build are the same Grafana major.minor', async () => {
    const text = await readFile(join(REPO_ROOT, 'images/grafana/Dockerfile'), 'utf8');
    const image = /^ARG GRAFANA_IMAGE=grafana\/grafana:(\d+)\.(\d+)\.\d+@sha256:[0-9a-f]{64}$/m.exec(text);
    assert.ok(image, 'images/grafana/Dockerfile: no pinned grafana/grafana:<x.y.z>@sha256 base');
    const sdk = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')).dependencies['@grafana/grafana-foundation-sdk'] as string;
    const build = /^(\d+)\.(\d+)\.\d+-cog/.exec(sdk);
    assert.ok(build, `@grafana/grafana-foundation-sdk ${sdk} is not a build for a Grafana version`);
    assert.deepEqual([build[1], build[2]], [image[1], image[2]], `the dashboards are built with the SDK for Grafana ${build[1]}.${build[2]} but the image runs ${image[1]}.${image[2]}`);
  });

  it('the checks reject what they must', () => {
    const broken = parseDockerfile(
      [
        'ARG BASE=debian:bookworm-slim',
        'FROM golang:latest AS build',
        'RUN go build ./...',
        'FROM ${BASE}',
        'RUN apt-get install -y build-essential cmake',
        'COPY --from=build /usr/local/go /usr/local/go',
        'ENTRYPOINT /bin/app',
        'FRM x',
      ].join('\n'),
    );
    assert.deepEqual(parseProblems(broken), ['line 7: ENTRYPOINT is not valid exec-form JSON', 'line 8: unknown instruction FRM']);
    assert.deepEqual(baseImageProblems(broken), ['golang:latest uses the tag latest', 'debian:bookworm-slim is not pinned by digest']);
    assert.deepEqual(userProblems(broken), ['the final stage sets no USER (runs as root)']);
    assert.deepEqual(aptProblems(broken), ['line 5: installs Debian packages without images/shared/apt-snapshot.sh']);
    assert.deepEqual(aptProblems(parseDockerfile('FROM x\nRUN sh /mnt/shared/apt-snapshot.sh curl\n')), [
      `line 2: runs apt-snapshot.sh without --mount=${APT_SNAPSHOT.mount}`,
    ]);
    assert.deepEqual(sourcePinProblems(parseDockerfile('FROM x\nARG LIB_REF=v1.4.0\nARG LIB_COMMIT=33af22b\nARG TAR_SHA256=abc\nARG OK_COMMIT=' + 'a'.repeat(40) + '\n')), [
      'LIB_REF fetches a movable ref (v1.4.0)',
      'LIB_COMMIT=33af22b is not a full commit',
      'TAR_SHA256=abc is not a SHA-256',
    ]);
    assert.deepEqual(toolchainProblems(broken).length, 2);
    assert.deepEqual(toolchainProblems(parseDockerfile('FROM debian@sha256:' + 'a'.repeat(64) + '\nRUN make\n')), [
      'single stage: the build toolchain ships in the image',
      'the final stage runs or installs a toolchain (make): make',
    ]);
    assert.deepEqual(userProblems(parseDockerfile('FROM x\nUSER 65534\nUSER 0:0\n')), ['the final stage runs as 0:0']);
    assert.equal(pinProblem('debian'), 'debian is untagged');
    assert.equal(pinProblem('${BASE_IMAGE}'), '${BASE_IMAGE} uses a build argument without a default');
    assert.equal(pinProblem('registry:5000/team/app:1.2@sha256:' + '0'.repeat(64)), undefined);
  });
});

describe('shell scripts under images/', () => {
  const scripts = shellScripts();

  it('are found (entrypoints, healthchecks, bootstrap, build helpers)', () => {
    for (const expected of [
      'snap/entrypoint.sh',
      'snap/healthcheck.sh',
      'hindsight/entrypoint.sh',
      'hindsight/healthcheck.sh',
      'influxdb/bootstrap.sh',
      'influxdb/entrypoint.sh',
    ]) {
      assert.ok(scripts.includes(expected), expected);
    }
  });

  for (const script of scripts) {
    it(`${script} passes shellcheck`, async () => {
      const result = await run('shellcheck', ['--external-sources', '--format=gcc', imagePath(script)]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
    });
  }

  it('shellcheck itself reports a broken script (the check can fail)', async () => {
    const result = await run('shellcheck', ['-s', 'sh', '-'], { input: '#!/bin/sh\nrm -rf $DIR/*\nif [ $x == 1 ]; then echo; fi\n' });
    assert.notEqual(result.code, 0);
  });
});
