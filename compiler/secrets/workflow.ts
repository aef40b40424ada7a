/**
 * The secrets workflow behind `npm run secrets`: initialise an environment, set or rotate one
 * value, add a recipient. Every file is written by sops; the compile only reads them.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import type { StackConfig } from '../config/types.ts';
import { readConfig, resolveConfig } from '../config/load.ts';
import { toYaml } from '../render/yaml.ts';
import { SECRETS_DIR } from '../kustomize/overlay.ts';
import { requiredSecrets } from './credentials.ts';
import { createAgeKey } from './age-keys.ts';
import { addRecipients, recipients } from './sops-config.ts';
import { decrypt, encrypt, updateKeys } from './sops.ts';

export interface SecretsContext {
  root: string;
  configDir: string;
  keyFile: string;
  log: (line: string) => void;
}

/** 32 random bytes, URL-safe: no quote or backslash to escape in InfluxQL or shells. */
export function randomPassword(): string {
  return randomBytes(32).toString('base64url');
}

export function secretFile(environment: string, name: string): string {
  return `overlays/${environment}/${SECRETS_DIR}/${name}.yaml`;
}

async function environmentConfig(context: SecretsContext, environment: string): Promise<StackConfig> {
  const resolved = resolveConfig(await readConfig(context.configDir));
  const env = resolved.environments.find((candidate) => candidate.name === environment);
  if (!env) throw new Error(`no environment "${environment}": expected config/environments/${environment}.ts`);
  return env.config;
}

function plaintextSecret(name: string, values: Record<string, string>): string {
  return toYaml({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, type: 'Opaque', stringData: values });
}

async function exists(path: string): Promise<boolean> {
  return readFile(path).then(() => true, () => false);
}

async function writeEncrypted(context: SecretsContext, environment: string, name: string, values: Record<string, string>): Promise<void> {
  const file = secretFile(environment, name);
  const ciphertext = await encrypt(context.root, file, plaintextSecret(name, values));
  await mkdir(join(context.root, 'overlays', environment, SECRETS_DIR), { recursive: true });
  await writeFile(join(context.root, file), ciphertext);
}

/** A new age key for the environment, its recipient in .sops.yaml, and every required Secret with random values. */
export async function initEnvironment(context: SecretsContext, environment: string): Promise<void> {
  const config = await environmentConfig(context, environment);
  const required = requiredSecrets(config);
  const present: string[] = [];
  for (const name of required.keys()) {
    const file = secretFile(environment, name);
    if (await exists(join(context.root, file))) present.push(file);
  }
  if (present.length === required.size) throw new Error(`${environment} is already initialised (${present.join(', ')}): use rotate or set`);

  let recipientList = await recipients(context.root, environment);
  if (recipientList.length === 0) {
    const recipient = await createAgeKey(context.keyFile, `ms-stacklight ${environment}`);
    recipientList = await addRecipients(context.root, environment, [recipient]);
    context.log(`new age key for ${environment} appended to ${context.keyFile} (keep it safe; never commit it)`);
    context.log(`recipient ${recipient} added to .sops.yaml`);
  }
  for (const [name, keys] of required) {
    const file = secretFile(environment, name);
    if (present.includes(file)) continue;
    await writeEncrypted(context, environment, name, Object.fromEntries([...keys.keys()].map((key) => [key, randomPassword()])));
    context.log(`wrote ${file} (${[...keys.keys()].join(', ')}: random)`);
  }
  context.log(`next: npm run compile, then commit .sops.yaml and overlays/${environment}/${SECRETS_DIR}/`);
}

/** Sets one key of one Secret, keeping its other keys; creates the Secret if it is new. */
export async function setValue(context: SecretsContext, environment: string, name: string, key: string, value: string): Promise<void> {
  if (value.length === 0) throw new Error('refusing to set an empty value');
  const file = secretFile(environment, name);
  let values: Record<string, string> = {};
  if (await exists(join(context.root, file))) {
    const document = parseDocument(await decrypt(context.root, file, context.keyFile));
    values = (document.toJS() as { stringData?: Record<string, string> }).stringData ?? {};
  }
  values[key] = value;
  await writeEncrypted(context, environment, name, values);
  context.log(`wrote ${file} (${key} set); next: npm run compile, commit, and the pods that read it roll`);
}

export async function rotateValue(context: SecretsContext, environment: string, name: string, key: string): Promise<void> {
  await setValue(context, environment, name, key, randomPassword());
}

/** Lets another age key decrypt the environment's Secrets (a new operator, or Flux's key). */
export async function addRecipient(context: SecretsContext, environment: string, recipient: string): Promise<void> {
  if (!/^age1[0-9a-z]{58}$/.test(recipient)) throw new Error(`"${recipient}" is not an age recipient (age1…)`);
  await addRecipients(context.root, environment, [recipient]);
  const dir = join(context.root, 'overlays', environment, SECRETS_DIR);
  const files = (await readdir(dir).catch(() => [] as string[])).filter((file) => file.endsWith('.yaml')).sort();
  for (const file of files) await updateKeys(context.root, `overlays/${environment}/${SECRETS_DIR}/${file}`, context.keyFile);
  context.log(`recipient added to .sops.yaml; ${files.length} file(s) of ${environment} re-keyed`);
}
