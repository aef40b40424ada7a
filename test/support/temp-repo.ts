/**
 * Throw-away copies of the repository's inputs (config/, lua/, .sops.yaml and the encrypted
 * Secrets) in a temp directory, so tests compile, break and rewrite them freely.
 */
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../compiler/tools.ts';
import { OUTPUT_ROOTS } from '../../compiler/render/write.ts';

export interface TempRepo {
  root: string;
  /** Writes a file relative to the root. */
  write(path: string, content: string): Promise<void>;
  read(path: string): Promise<string>;
  /** Every file under base/ and overlays/ with its content. */
  outputs(): Promise<Map<string, string>>;
  remove(): Promise<void>;
}

export async function listTree(root: string, dir: string): Promise<string[]> {
  const entries = await readdir(join(root, dir), { withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) files.push(...(await listTree(root, path)));
    else files.push(path);
  }
  return files.sort();
}

/** A copy of the inputs; `secrets: false` leaves out .sops.yaml and the encrypted Secrets. */
export async function tempRepo(options: { secrets?: boolean } = {}): Promise<TempRepo> {
  const root = await mkdtemp(join(tmpdir(), 'stacklight-repo-'));
  await cp(join(REPO_ROOT, 'config'), join(root, 'config'), { recursive: true });
  await cp(join(REPO_ROOT, 'lua'), join(root, 'lua'), { recursive: true });
  if (options.secrets !== false) {
    await cp(join(REPO_ROOT, '.sops.yaml'), join(root, '.sops.yaml'));
    for (const env of await readdir(join(REPO_ROOT, 'overlays'))) {
      await cp(join(REPO_ROOT, 'overlays', env, 'secrets'), join(root, 'overlays', env, 'secrets'), { recursive: true });
    }
  }
  const repo: TempRepo = {
    root,
    write: (path, content) => writeFile(join(root, path), content),
    read: (path) => readFile(join(root, path), 'utf8'),
    async outputs() {
      const files = (await Promise.all(OUTPUT_ROOTS.map((outputRoot) => listTree(root, outputRoot)))).flat();
      return new Map(await Promise.all(files.map(async (file) => [file, await repo.read(file)] as const)));
    },
    remove: () => rm(root, { recursive: true, force: true }),
  };
  return repo;
}
