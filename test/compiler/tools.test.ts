/**
 * The pinned tools' release download (used where Go is absent), against a release served on
 * loopback: the asset is installed only when its SHA-256 is the one the release's checksums file
 * publishes, and a .tar.gz is unpacked to the tool alone.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { checksumOf, installFromRelease, TOOLS } from '../../compiler/tools.ts';

const run = promisify(execFile);
const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

let server: Server;
let baseUrl: string;
let scratch: string;
const files = new Map<string, Buffer>();

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'tools-release-'));
  server = createServer((request, response) => {
    const body = files.get(decodeURIComponent((request.url ?? '').slice(1)));
    if (!body) response.writeHead(404).end();
    else response.writeHead(200).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.close();
  await rm(scratch, { recursive: true, force: true });
});

test('a checksums file is read line by line, binary-mode stars included', () => {
  const list = `${'a'.repeat(64)}  other.tar.gz\n${'b'.repeat(64)} *kustomize_v5.7.1_linux_amd64.tar.gz\n`;
  assert.equal(checksumOf(list, 'kustomize_v5.7.1_linux_amd64.tar.gz'), 'b'.repeat(64));
  assert.equal(checksumOf(list, 'missing'), undefined);
});

test('a plain binary is installed when its checksum matches, refused when it does not', async () => {
  const { asset, checksums } = TOOLS.sops.release;
  const binary = Buffer.from('#!/bin/sh\necho "sops 3.10.2 (latest)"\n');
  files.set(asset, binary);
  files.set(checksums, Buffer.from(`${sha256(binary)}  ${asset}\n`));
  const installed = await installFromRelease('sops', join(scratch, 'ok'), baseUrl);
  assert.match((await run(installed, ['--version'])).stdout, /sops 3\.10\.2/);

  files.set(checksums, Buffer.from(`${sha256('something else')}  ${asset}\n`));
  await assert.rejects(installFromRelease('sops', join(scratch, 'tampered'), baseUrl), /SHA-256 [0-9a-f]{64} is not the published/);
  assert.deepEqual(await readdir(scratch).then((names) => names.filter((name) => name === 'tampered')), []);
});

test('a .tar.gz release is unpacked to the tool alone', async () => {
  const { asset, checksums } = TOOLS.actionlint.release;
  const pack = await mkdtemp(join(scratch, 'pack-'));
  await writeFile(join(pack, 'actionlint'), '#!/bin/sh\necho 1.7.12\n', { mode: 0o755 });
  await writeFile(join(pack, 'README.md'), 'not wanted\n');
  await run('tar', ['-czf', join(pack, asset), '-C', pack, 'actionlint', 'README.md']);
  const archive = await readFile(join(pack, asset));
  files.set(asset, archive);
  files.set(checksums, Buffer.from(`${sha256(archive)}  ${asset}\n`));
  const dir = join(scratch, 'tar');
  const installed = await installFromRelease('actionlint', dir, baseUrl);
  assert.deepEqual(await readdir(dir), ['actionlint']);
  assert.match((await run(installed, [])).stdout, /1\.7\.12/);
});

test('a release without the asset fails clearly', async () => {
  files.delete(TOOLS.kustomize.release.asset);
  await assert.rejects(installFromRelease('kustomize', join(scratch, 'none'), baseUrl), /kustomize_v5\.7\.1_linux_amd64\.tar\.gz: HTTP 404/);
});
