/**
 * The two sides of a rendered diff: the committed base/, overlays/ and clusters/ of a git ref (or
 * of the working tree), each kustomization built with the pinned kustomize.
 *
 * A ref's tree is taken with `git archive` (only those directories) into a temp directory:
 * nothing is checked out and git's own state (worktrees, index) is never touched, so an
 * interrupted run leaves nothing behind but a temp directory. The working tree is copied the
 * same way, so both sides are built from the same kind of directory.
 */
import { execFile, spawn } from 'node:child_process';
import { access, cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { kustomizeBuild } from '../kustomize/build.ts';

const run = promisify(execFile);

/** What is built: base/, every overlay and every clusters/<env> (the engine's objects). */
export const TREE_DIRS = ['base', 'overlays', 'clusters'] as const;

export interface Side {
  /** How the side is named in the report: the ref as given, or "working tree". */
  label: string;
  /** The commit, for a ref. */
  commit?: string;
  dir: string;
}

async function git(root: string, args: string[]): Promise<string> {
  const { stdout } = await run('git', ['-C', root, ...args], { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

export async function resolveCommit(root: string, ref: string): Promise<string> {
  try {
    return (await git(root, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`])).trim();
  } catch {
    throw new Error(`"${ref}" is not a commit in ${root} (a branch, tag or commit; in CI fetch the full history)`);
  }
}

function extract(root: string, commit: string, paths: string[], dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const archive = spawn('git', ['-C', root, 'archive', '--format=tar', commit, '--', ...paths], { stdio: ['ignore', 'pipe', 'pipe'] });
    const tar = spawn('tar', ['-x', '-C', dir], { stdio: ['pipe', 'ignore', 'pipe'] });
    let errors = '';
    archive.stderr.on('data', (chunk) => (errors += chunk));
    tar.stderr.on('data', (chunk) => (errors += chunk));
    archive.stdout.pipe(tar.stdin);
    let pending = 2;
    const done = (name: string) => (code: number | null) => {
      if (code !== 0) errors += `\n${name} exited ${code}`;
      if (--pending > 0) return;
      if (errors.trim()) reject(new Error(`git archive ${commit}: ${errors.trim()}`));
      else resolve();
    };
    archive.on('close', done('git archive'));
    tar.on('close', done('tar'));
    archive.on('error', reject);
    tar.on('error', reject);
  });
}

/** base/, overlays/ and clusters/ of a commit, in a new temp directory. */
export async function checkoutRef(root: string, ref: string): Promise<Side> {
  const commit = await resolveCommit(root, ref);
  const dir = await mkdtemp(join(tmpdir(), 'stacklight-diff-'));
  try {
    const present = (await git(root, ['ls-tree', '--name-only', commit, '--', ...TREE_DIRS])).split('\n').filter(Boolean);
    if (present.length > 0) await extract(root, commit, present, dir);
    return { label: ref, commit, dir };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** base/, overlays/ and clusters/ of the working tree, copied into a new temp directory. */
export async function copyWorkingTree(root: string): Promise<Side> {
  const dir = await mkdtemp(join(tmpdir(), 'stacklight-diff-'));
  for (const name of TREE_DIRS) {
    if (await access(join(root, name)).then(() => true, () => false)) await cp(join(root, name), join(dir, name), { recursive: true });
  }
  return { label: 'working tree', dir };
}

export async function removeSide(side: Side): Promise<void> {
  await rm(side.dir, { recursive: true, force: true });
}

const exists = (path: string) => access(path).then(() => true, () => false);

/** `base`, `overlays/<env>` and `clusters/<env>`, each directory holding a kustomization.yaml, in that order. */
export async function buildTargets(dir: string): Promise<string[]> {
  const targets: string[] = [];
  if (await exists(join(dir, 'base', 'kustomization.yaml'))) targets.push('base');
  for (const parent of ['overlays', 'clusters']) {
    const envs = await readdir(join(dir, parent), { withFileTypes: true }).catch(() => []);
    for (const env of envs.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort()) {
      if (await exists(join(dir, parent, env, 'kustomization.yaml'))) targets.push(`${parent}/${env}`);
    }
  }
  return targets;
}

/** Every target of a side built with kustomize. */
export async function buildSide(side: Side): Promise<Map<string, unknown[]>> {
  const targets = await buildTargets(side.dir);
  const builds = await Promise.all(
    targets.map(async (target) => {
      try {
        return [target, await kustomizeBuild(join(side.dir, target))] as const;
      } catch (error) {
        const stderr = (error as { stderr?: string }).stderr?.trim();
        throw new Error(`kustomize build ${target} (${side.label}) failed: ${stderr || (error as Error).message}`, { cause: error });
      }
    }),
  );
  return new Map(builds);
}
