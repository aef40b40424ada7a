/**
 * The Go programs the project drives, at pinned versions: the one place their versions live.
 * A tool is taken from .tools/bin, else from PATH, where it reports the pinned version, else
 * installed into .tools/bin: with `go install` (the Go module proxy) where
 * Go is present, else from the project's release download, checked against the release's
 * published SHA-256 checksums (linux/amd64).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ToolSpec {
  module: string;
  version: string;
  /** The argument that prints the version, and a pattern that finds the pinned one in it. */
  versionArgs: string[];
  versionPattern: RegExp;
  /** The linux/amd64 release: where it is, the asset, and the file of checksums beside it. */
  release: { baseUrl: string; asset: string; checksums: string };
}

export const TOOLS = {
  sops: {
    module: 'github.com/getsops/sops/v3/cmd/sops',
    version: 'v3.10.2',
    versionArgs: ['--version', '--disable-version-check'],
    versionPattern: /sops 3\.10\.2\b/,
    release: {
      baseUrl: 'https://github.com/getsops/sops/releases/download/v3.10.2',
      asset: 'sops-v3.10.2.linux.amd64',
      checksums: 'sops-v3.10.2.checksums.txt',
    },
  },
  kustomize: {
    module: 'sigs.k8s.io/kustomize/kustomize/v5',
    version: 'v5.7.1',
    versionArgs: ['version'],
    versionPattern: /v5\.7\.1\b/,
    release: {
      baseUrl: 'https://github.com/kubernetes-sigs/kustomize/releases/download/kustomize%2Fv5.7.1',
      asset: 'kustomize_v5.7.1_linux_amd64.tar.gz',
      checksums: 'checksums.txt',
    },
  },
  actionlint: {
    module: 'github.com/rhysd/actionlint/cmd/actionlint',
    version: 'v1.7.12',
    versionArgs: ['-version'],
    versionPattern: /^v?1\.7\.12\b/m,
    release: {
      baseUrl: 'https://github.com/rhysd/actionlint/releases/download/v1.7.12',
      asset: 'actionlint_1.7.12_linux_amd64.tar.gz',
      checksums: 'actionlint_1.7.12_checksums.txt',
    },
  },
} as const satisfies Record<string, ToolSpec>;

export type ToolName = keyof typeof TOOLS;

/** compiler/'s path, set by the launcher's bundle (which runs from elsewhere); unset when run from source. */
declare const STACKLIGHT_COMPILER_DIR: string | undefined;

/** The repository root: this file lives in compiler/. */
export const REPO_ROOT = resolve(typeof STACKLIGHT_COMPILER_DIR === 'string' ? STACKLIGHT_COMPILER_DIR : import.meta.dirname, '..');
export const TOOLS_BIN = join(REPO_ROOT, '.tools', 'bin');

async function reportsPinnedVersion(path: string, spec: ToolSpec): Promise<boolean> {
  try {
    const { stdout, stderr } = await run(path, spec.versionArgs, { timeout: 20_000 });
    return spec.versionPattern.test(stdout + stderr);
  } catch {
    return false;
  }
}

const located = new Map<ToolName, Promise<string>>();

async function download(url: string): Promise<Buffer> {
  const response = await fetch(url, { signal: AbortSignal.timeout(300_000) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

/** The SHA-256 a checksums file (`<hex>  <file>` lines) gives for a file. */
export function checksumOf(checksums: string, file: string): string | undefined {
  for (const line of checksums.split('\n')) {
    const [hash, name] = line.trim().split(/\s+\*?/);
    if (name === file && /^[0-9a-f]{64}$/.test(hash ?? '')) return hash;
  }
  return undefined;
}

/**
 * Downloads a tool's release asset into `dir`, refusing it unless its SHA-256 is the one the
 * release's checksums file lists; a .tar.gz asset is unpacked and only the tool is kept.
 */
export async function installFromRelease(name: ToolName, dir: string, baseUrl: string = TOOLS[name].release.baseUrl): Promise<string> {
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error(`no release download of ${name} for ${process.platform}/${process.arch}: install Go`);
  const { asset, checksums } = TOOLS[name].release;
  const [bytes, list] = await Promise.all([download(`${baseUrl}/${asset}`), download(`${baseUrl}/${checksums}`)]);
  const expected = checksumOf(list.toString('utf8'), asset);
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (!expected) throw new Error(`${checksums} lists no checksum for ${asset}`);
  if (expected !== actual) throw new Error(`${asset}: SHA-256 ${actual} is not the published ${expected}`);
  await mkdir(dir, { recursive: true });
  const target = join(dir, name);
  if (!asset.endsWith('.tar.gz')) {
    await writeFile(target, bytes, { mode: 0o755 });
    return target;
  }
  const unpack = await mkdtemp(join(tmpdir(), `${name}-`));
  try {
    await writeFile(join(unpack, asset), bytes);
    await run('tar', ['-xzf', join(unpack, asset), '-C', unpack, name]);
    await rename(join(unpack, name), target).catch(async () => run('cp', [join(unpack, name), target]));
    await chmod(target, 0o755);
    return target;
  } finally {
    await rm(unpack, { recursive: true, force: true });
  }
}

async function goInstall(name: ToolName): Promise<void> {
  const spec: ToolSpec = TOOLS[name];
  await run('go', ['install', `${spec.module}@${spec.version}`], {
    env: { ...process.env, GOBIN: TOOLS_BIN, GOFLAGS: '-mod=mod' },
    timeout: 15 * 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** Where the pinned version of a tool already is (.tools/bin first, then PATH), installing nothing. */
export async function findPinned(name: ToolName): Promise<string | undefined> {
  const spec: ToolSpec = TOOLS[name];
  const local = join(TOOLS_BIN, name);
  if (await reportsPinnedVersion(local, spec)) return local;
  if (await reportsPinnedVersion(name, spec)) return name;
  return undefined;
}

async function locate(name: ToolName): Promise<string> {
  const found = await findPinned(name);
  if (found) return found;
  const spec: ToolSpec = TOOLS[name];
  const local = join(TOOLS_BIN, name);
  await mkdir(TOOLS_BIN, { recursive: true });
  const haveGo = await run('go', ['version']).then(() => true, () => false);
  process.stderr.write(`installing ${name} ${spec.version} into .tools/bin (${haveGo ? 'go install' : 'release download'})...\n`);
  if (haveGo) await goInstall(name);
  else await installFromRelease(name, TOOLS_BIN);
  if (!(await reportsPinnedVersion(local, spec))) throw new Error(`${local} does not report ${name} ${spec.version}`);
  return local;
}

/** The path of a pinned tool, installing it on first use. */
export function tool(name: ToolName): Promise<string> {
  if (!located.has(name)) located.set(name, locate(name));
  return located.get(name)!;
}
