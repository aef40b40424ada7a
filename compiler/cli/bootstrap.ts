/**
 * `npm run bootstrap -- <env> [--age-key-file <file>]`: prints the exact commands that put a
 * cluster under GitOps for that environment (Flux or Argo CD, as the config selects). It runs
 * nothing itself.
 */
import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { environmentConfig, ConfigError } from '../config/load.ts';
import { ageKeyFile } from '../secrets/age-keys.ts';
import { recipients } from '../secrets/sops-config.ts';
import { bootstrapCommands, findAgeKeyLine } from '../gitops/bootstrap.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { root: { type: 'string' }, 'age-key-file': { type: 'string' } },
});
const root = resolve(values.root ?? '.');

async function main(): Promise<void> {
  try {
    const [environment] = positionals;
    if (!environment) throw new Error('usage: npm run bootstrap -- <env> [--age-key-file <file>]');
    const config = await environmentConfig(join(root, 'config'), environment);
    const keyFile = ageKeyFile(values['age-key-file']);
    const envRecipients = await recipients(root, environment);
    const key = await findAgeKeyLine(keyFile, envRecipients);
    process.stdout.write(bootstrapCommands({ environment, config: config, keyFile, recipients: envRecipients, key }));
  } catch (error) {
    console.error(`bootstrap: ${error instanceof ConfigError ? `config problems:\n${error.message}` : (error as Error).message}`);
    process.exitCode = 1;
  }
}

void main();
