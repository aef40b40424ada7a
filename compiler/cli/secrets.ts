/**
 * `npm run secrets -- <command>`:
 *   init <env>                       new age key + random values for every credential the config needs
 *   set <env> <secret> <key>         the value is read from standard input (never an argument)
 *   rotate <env> <secret> [<key>]    a new random value (key defaults to "password")
 *   add-recipient <env> <age1...>    another key may decrypt the environment's Secrets
 * Options: --root <dir> (repository, default .), --config <dir>, --age-key-file <file>
 * (default $SOPS_AGE_KEY_FILE or ~/.config/sops/age/keys.txt).
 */
import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { text } from 'node:stream/consumers';
import { ageKeyFile } from '../secrets/age-keys.ts';
import { addRecipient, initEnvironment, rotateValue, setValue, type SecretsContext } from '../secrets/workflow.ts';
import { ConfigError } from '../config/load.ts';

const USAGE = 'usage: npm run secrets -- init <env> | set <env> <secret> <key> | rotate <env> <secret> [<key>] | add-recipient <env> <age1...>';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { root: { type: 'string' }, config: { type: 'string' }, 'age-key-file': { type: 'string' } },
});
const root = resolve(values.root ?? '.');
const context: SecretsContext = {
  root,
  configDir: values.config ? resolve(values.config) : join(root, 'config'),
  keyFile: ageKeyFile(values['age-key-file']),
  log: (line) => console.log(line),
};

async function main([command, env, ...rest]: string[]): Promise<void> {
  if (!env) throw new Error(USAGE);
  switch (command) {
    case 'init':
      return initEnvironment(context, env);
    case 'set': {
      const [secret, key] = rest;
      if (!secret || !key) throw new Error(USAGE);
      const value = (await text(process.stdin)).replace(/\r?\n$/, '');
      return setValue(context, env, secret, key, value);
    }
    case 'rotate': {
      const [secret, key = 'password'] = rest;
      if (!secret) throw new Error(USAGE);
      return rotateValue(context, env, secret, key);
    }
    case 'add-recipient': {
      const [recipient] = rest;
      if (!recipient) throw new Error(USAGE);
      return addRecipient(context, env, recipient);
    }
    default:
      throw new Error(USAGE);
  }
}

main(positionals).catch((error: unknown) => {
  const message = error instanceof ConfigError ? `config problems:\n${error.message}` : (error as Error).message;
  // zx errors carry the command's stderr, which never holds a secret value (values go through stdin).
  console.error(`secrets: ${message}`);
  process.exitCode = 1;
});
