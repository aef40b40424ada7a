/**
 * `npm run compile [-- --root <dir>] [-- --config <dir>]`: compiles config/ into base/ and
 * overlays/ and clusters/, printing what it wrote, changed and removed. Exits 1 on any config
 * problem, having written nothing.
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { compile } from '../compile.ts';
import { ConfigError } from '../config/load.ts';
import { RollbackError } from '../render/write.ts';

const { values } = parseArgs({ options: { root: { type: 'string' }, config: { type: 'string' } } });
const root = resolve(values.root ?? '.');

async function main(): Promise<void> {
  try {
    const { report } = await compile({ root, ...(values.config && { configDir: resolve(values.config) }) });
    for (const path of report.written) console.log(`  wrote    ${path}`);
    for (const path of report.changed) console.log(`  changed  ${path}`);
    for (const path of report.removed) console.log(`  removed  ${path}`);
    console.log(
      `compile: ${report.written.length} written, ${report.changed.length} changed, ${report.removed.length} removed, ${report.unchanged} unchanged`,
    );
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`compile failed; nothing was written. ${error.issues.length} problem(s):`);
      for (const issue of error.issues) console.error(`  ${issue.path}: ${issue.message}`);
    } else if (error instanceof RollbackError) {
      console.error(`compile failed, and the previous output could not all be moved back: ${error.message}`);
    } else {
      console.error(`compile failed; nothing was written: ${(error as Error).stack ?? String(error)}`);
    }
    process.exitCode = 1;
  }
}

void main();
