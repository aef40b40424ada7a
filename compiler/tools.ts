/**
 * The Go programs the project drives, at pinned versions: the one place their versions live.
 * A tool is taken from .tools/bin when installed there, else from PATH when it reports the
 * pinned version, else installed into .tools/bin with `go install` (the Go module proxy).
 */
import { execFile } from 'node:child_process';
import { access, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ToolSpec {
  module: string;
  version: string;
  /** The argument that prints the version, and a pattern that finds the pinned one in it. */
  versionArgs: string[];
  versionPattern: RegExp;
}

export const TOOLS = {
  sops: {
    module: 'github.com/getsops/sops/v3/cmd/sops',
    version: 'v3.10.2',
    versionArgs: ['--version', '--disable-version-check'],
    versionPattern: /sops 3\.10\.2\b/,
  },
  kustomize: {
    module: 'sigs.k8s.io/kustomize/kustomize/v5',
    version: 'v5.7.1',
    versionArgs: ['version'],
    versionPattern: /v5\.7\.1\b/,
  },
  actionlint: {
    module: 'github.com/rhysd/actionlint/cmd/actionlint',
    version: 'v1.7.12',
    versionArgs: ['-version'],
    versionPattern: /^v?1\.7\.12\b/m,
  },
} as const satisfies Record<string, ToolSpec>;

export type ToolName = keyof typeof TOOLS;

/** The repository root: this file lives in compiler/. */
export const REPO_ROOT = resolve(import.meta.dirname, '..');
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

async function locate(name: ToolName): Promise<string> {
  const spec: ToolSpec = TOOLS[name];
  const local = join(TOOLS_BIN, name);
  if (await access(local).then(() => true, () => false)) return local;
  if (await reportsPinnedVersion(name, spec)) return name;
  await mkdir(TOOLS_BIN, { recursive: true });
  process.stderr.write(`installing ${name} ${spec.version} into .tools/bin (go install)...\n`);
  await run('go', ['install', `${spec.module}@${spec.version}`], {
    env: { ...process.env, GOBIN: TOOLS_BIN, GOFLAGS: '-mod=mod' },
    timeout: 15 * 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (!(await reportsPinnedVersion(local, spec))) throw new Error(`${local} does not report ${name} ${spec.version}`);
  return local;
}

/** The path of a pinned tool, installing it on first use. */
export function tool(name: ToolName): Promise<string> {
  if (!located.has(name)) located.set(name, locate(name));
  return located.get(name)!;
}
