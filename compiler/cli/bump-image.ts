/**
 * `npm run bump-image -- <component> <tag | sha256:<digest> | tag@sha256:<digest>> [--root <dir>]`:
 * sets one image's reference in config/images.ts in place (a one-line diff; comments and
 * formatting kept; see compiler/codemods/image-ref.ts), then compiles and prints what changed.
 * Components: snap, hindsight, influxdb, grafana. On bad input, or when the compile rejects the
 * result, config/images.ts is left (or put back) as it was and the command exits 1.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BumpError, IMAGE_NAMES, parseReference } from '../codemods/image-input.ts';

const USAGE = `usage: npm run bump-image -- <component> <tag|sha256:<64 hex>|tag@sha256:<64 hex>>   (component: ${IMAGE_NAMES.join(', ')})`;
const IMAGES_FILE = 'config/images.ts';

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ allowPositionals: true, options: { root: { type: 'string' } } });
  } catch (error) {
    throw new BumpError(`${(error as Error).message}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 2) throw new BumpError(USAGE);
  const [componentArg, reference] = positionals as [string, string];
  const { component, update } = parseReference(componentArg, reference);
  const root = resolve(values.root ?? '.');
  const path = join(root, IMAGES_FILE);
  const original = await readFile(path, 'utf8');
  // Loaded only for valid input: bad input is answered at once.
  const { editImage } = await import('../codemods/image-ref.ts');
  const edit = editImage(original, IMAGES_FILE, component, update);
  if (edit.changes.length === 0) {
    console.log(`${IMAGES_FILE}: ${component} is already ${reference}; nothing to change`);
    return;
  }
  await writeFile(path, edit.text);
  for (const change of edit.changes) {
    console.log(`${IMAGES_FILE}:${change.line}`);
    console.log(`- ${change.before}`);
    console.log(`+ ${change.after}`);
  }
  const [{ compile }, { ConfigError }] = await Promise.all([import('../compile.ts'), import('../config/load.ts')]);
  try {
    const { report } = await compile({ root });
    for (const file of report.written) console.log(`  wrote    ${file}`);
    for (const file of report.changed) console.log(`  changed  ${file}`);
    for (const file of report.removed) console.log(`  removed  ${file}`);
    console.log(`bump-image: ${component} ${describe(edit.before)} → ${describe(edit.after)}; compile: ${report.changed.length} changed, ${report.written.length} written, ${report.removed.length} removed`);
  } catch (error) {
    await writeFile(path, original);
    const detail = error instanceof ConfigError ? `\n${error.issues.map((issue) => `  ${issue.path}: ${issue.message}`).join('\n')}` : ` ${(error as Error).message}`;
    throw new BumpError(`the compile rejected the new reference; ${IMAGES_FILE} is restored and nothing was written:${detail}`);
  }
}

function describe({ tag, digest }: { tag?: string; digest?: string }): string {
  return `${tag ?? '(no tag)'}${digest ? `@${digest}` : ''}`;
}

main().catch((error: unknown) => {
  console.error(`bump-image: ${error instanceof BumpError ? error.message : ((error as Error).stack ?? String(error))}`);
  process.exitCode = 1;
});
