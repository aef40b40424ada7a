/**
 * Writes the compiled tree all at once: everything goes to a staging directory first, then each
 * output root (base/, overlays/, clusters/) is swapped in by rename. The encrypted Secrets in
 * overlays/<env>/secrets/ are inputs and move, untouched, into the new tree. Nothing is written
 * when nothing changed; a failure before the swap leaves the previous output as it was, and a
 * failure during the swap moves back what had moved.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export interface WriteReport {
  written: string[];
  changed: string[];
  removed: string[];
  unchanged: number;
}

/** The output roots the compiler owns, relative to the repository root. */
export const OUTPUT_ROOTS = ['base', 'overlays', 'clusters'] as const;

/** Directories inside the output roots that hold inputs and are carried over, not generated. */
function isPreserved(path: string): boolean {
  return /^overlays\/[^/]+\/secrets(\/|$)/.test(path);
}

// read synchronously, as the inputs are (inputs.ts)
function listFiles(root: string, dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(join(root, dir), { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const files: string[] = [];
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) files.push(...listFiles(root, path));
    else files.push(path);
  }
  return files;
}

function currentTree(root: string): Map<string, string> {
  const tree = new Map<string, string>();
  for (const outputRoot of OUTPUT_ROOTS) {
    for (const path of listFiles(root, outputRoot)) {
      if (!isPreserved(path)) tree.set(path, readFileSync(join(root, path), 'utf8'));
    }
  }
  return tree;
}

export function compareTrees(current: ReadonlyMap<string, string>, next: ReadonlyMap<string, string>): WriteReport {
  const report: WriteReport = { written: [], changed: [], removed: [], unchanged: 0 };
  for (const [path, content] of next) {
    const previous = current.get(path);
    if (previous === undefined) report.written.push(path);
    else if (previous !== content) report.changed.push(path);
    else report.unchanged += 1;
  }
  for (const path of current.keys()) if (!next.has(path)) report.removed.push(path);
  for (const list of [report.written, report.changed, report.removed]) list.sort();
  return report;
}

/** Secret directories of environments: overlays/<env>/secrets that exist now. */
async function preservedDirs(root: string): Promise<string[]> {
  const dirs: string[] = [];
  for (const env of await readdir(join(root, 'overlays')).catch(() => [] as string[])) {
    const dir = `overlays/${env}/secrets`;
    if ((await readdir(join(root, dir)).catch(() => undefined)) !== undefined) dirs.push(dir);
  }
  return dirs;
}

/** The file-system call the swap makes; a parameter so that tests can make any step of it fail. */
export interface SwapIO {
  rename: (from: string, to: string) => Promise<void>;
}

export async function writeTree(root: string, tree: ReadonlyMap<string, string>, io: SwapIO = { rename }): Promise<WriteReport> {
  for (const path of tree.keys()) {
    if (!OUTPUT_ROOTS.some((outputRoot) => path.startsWith(`${outputRoot}/`)) || isPreserved(path) || path.includes('..')) {
      throw new Error(`refusing to write ${path}: outside the compiler's output`);
    }
  }
  const report = compareTrees(currentTree(root), tree);
  if (report.written.length + report.changed.length + report.removed.length === 0) return report;

  const staging = await mkdtemp(join(root, '.compile-'));
  const retired = join(staging, '.previous');
  let keepStaging = false;
  try {
    for (const [path, content] of tree) {
      await mkdir(dirname(join(staging, path)), { recursive: true });
      await writeFile(join(staging, path), content);
    }
    await mkdir(retired);
    for (const outputRoot of OUTPUT_ROOTS) await mkdir(join(staging, outputRoot), { recursive: true });
    await swap(root, staging, retired, await preservedDirs(root), io);
  } catch (error) {
    keepStaging = error instanceof RollbackError;
    throw error;
  } finally {
    if (!keepStaging) await rm(staging, { recursive: true, force: true });
  }
  return report;
}

/** A swap that failed and could not be fully undone: the previous output is still in the staging directory. */
export class RollbackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RollbackError';
  }
}

/**
 * Moves the previous roots aside, carries the Secrets over, moves the new roots in; undoes on
 * error. When an undo fails too, nothing is deleted: the error names the staging directory that
 * holds what could not be moved back (the encrypted Secrets among it cannot be regenerated).
 */
async function swap(root: string, staging: string, retired: string, preserved: readonly string[], io: SwapIO): Promise<void> {
  const done: (() => Promise<void>)[] = [];
  const move = async (from: string, to: string) => {
    await mkdir(dirname(to), { recursive: true });
    await io.rename(from, to);
    done.push(() => io.rename(to, from));
  };
  try {
    for (const outputRoot of OUTPUT_ROOTS) {
      const existing = await readdir(join(root, outputRoot)).then(() => true, () => false);
      if (existing) await move(join(root, outputRoot), join(retired, outputRoot));
    }
    for (const dir of preserved) await move(join(retired, dir), join(staging, dir));
    for (const outputRoot of OUTPUT_ROOTS) await move(join(staging, outputRoot), join(root, outputRoot));
  } catch (error) {
    const undoFailures: string[] = [];
    for (const undo of done.reverse()) await undo().catch((undoError: Error) => undoFailures.push(undoError.message));
    if (undoFailures.length > 0) {
      throw new RollbackError(
        `could not swap the new output in (${(error as Error).message}) nor move all of the previous output back (${undoFailures.join('; ')}): ` +
          `restore base/, overlays/ and clusters/ (the Secrets in overlays/<env>/secrets/ included) from ${retired} and ${staging} by hand, or from git`,
      );
    }
    throw new Error(`could not swap the new output in (previous output restored): ${(error as Error).message}`, { cause: error });
  }
}
