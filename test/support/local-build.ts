/**
 * Where images/<image>/build-local.sh has put its build for the Dockerfile's current pins, if it
 * has: the script's `--dir` mode prints the directory and exits 1 when nothing is built, and
 * never builds. The tests that need the real Snap or Hindsight ask here and skip without them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../compiler/tools.ts';

/** The build directory of `image`, when `program` (a path inside it) exists. */
export function localBuild(image: 'snap' | 'hindsight', program: string): string | undefined {
  const result = spawnSync('bash', [path.join(REPO_ROOT, 'images', image, 'build-local.sh'), '--dir'], { encoding: 'utf8' });
  const dir = result.stdout.trim();
  if (result.status !== 0 || !dir || !existsSync(path.join(dir, program))) return undefined;
  return dir;
}

/** The line a skipped test prints: what is missing and the command that builds it. */
export function notBuilt(what: string, image: 'snap' | 'hindsight', duration: string): string {
  return `${what} not built: run \`bash images/${image}/build-local.sh\` (${duration}) to run these tests`;
}
