/**
 * `npm run diff -- --base <ref> [--head <ref>] [--json] [--root <dir>]`: builds base/, every
 * overlay and every clusters/<env> committed at <ref> and at the head (the working tree unless
 * --head is given) with the pinned kustomize, and prints what changed object by object as markdown (the pull request
 * comment), or as JSON with --json. Prints "No changes" when the builds are identical. Exits 0
 * either way; 1 on a bad ref or a failed build.
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { renderedDiff, toMarkdown } from '../diff/report.ts';

const USAGE = 'usage: npm run diff -- --base <ref> [--head <ref>] [--json] [--root <dir>]';

async function main(): Promise<void> {
  try {
    const { values } = parseArgs({
      options: { base: { type: 'string' }, head: { type: 'string' }, json: { type: 'boolean' }, root: { type: 'string' } },
    });
    if (!values.base) throw new Error(`--base is required. ${USAGE}`);
    const diff = await renderedDiff({ root: resolve(values.root ?? '.'), base: values.base, ...(values.head !== undefined && { head: values.head }) });
    process.stdout.write(values.json ? `${JSON.stringify(diff, null, 2)}\n` : toMarkdown(diff));
  } catch (error) {
    console.error(`diff: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}

void main();
