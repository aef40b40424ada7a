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
import { requiredSecrets, secretId, type RequiredSecret, type SecretRef } from './credentials.ts';
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

export function secretFile(environment: string, ref: SecretRef): string {
  return `overlays/${environment}/${SECRETS_DIR}/${secretId(ref)}.yaml`;
}

async function environmentConfig(context: SecretsContext, environment: string): Promise<StackConfig> {
  const resolved = resolveConfig(await readConfig(context.configDir));
  const env = resolved.environments.find((candidate) => candidate.name === environment);
  if (!env) throw new Error(`no environment "${environment}": expected config/environments/${environment}.ts`);
  return env.config;
}

function plaintextSecret(ref: SecretRef, values: Record<string, string>): string {
  return toYaml({ apiVersion: 'v1', kind: 'Secret', metadata: { name: ref.name, namespace: ref.namespace }, type: 'Opaque', stringData: values });
}

async function exists(path: string): Promise<boolean> {
  return readFile(path).then(() => true, () => false);
}

async function writeEncrypted(context: SecretsContext, environment: string, ref: SecretRef, values: Record<string, string>): Promise<void> {
  const file = secretFile(environment, ref);
  const ciphertext = await encrypt(context.root, file, plaintextSecret(ref, values));
  await mkdir(join(context.root, 'overlays', environment, SECRETS_DIR, ref.namespace), { recursive: true });
  await writeFile(join(context.root, file), ciphertext);
}

/** The namespaces' copies of one Secret (the writer's password is read in two namespaces). */
function copiesOf(config: StackConfig, name: string): RequiredSecret[] {
  const copies = [...requiredSecrets(config).values()].filter((secret) => secret.name === name);
  if (copies.length === 0) {
    const known = [...new Set([...requiredSecrets(config).values()].map((secret) => secret.name))].join(', ');
    throw new Error(`no credential uses a Secret named "${name}" (the config uses: ${known})`);
  }
  return copies;
}

/**
 * A new age key for the environment, its recipient in .sops.yaml, and every required Secret with
 * random passwords: one value per Secret key, the same in every namespace that reads it.
 */
export async function initEnvironment(context: SecretsContext, environment: string): Promise<void> {
  const config = await environmentConfig(context, environment);
  const required = [...requiredSecrets(config).values()];
  const present: string[] = [];
  for (const secret of required) {
    const file = secretFile(environment, secret);
    if (await exists(join(context.root, file))) present.push(file);
  }
  if (present.length === required.length) throw new Error(`${environment} is already initialised (${present.join(', ')}): use rotate or set`);

  let recipientList = await recipients(context.root, environment);
  if (recipientList.length === 0) {
    const recipient = await createAgeKey(context.keyFile, `ms-stacklight ${environment}`);
    recipientList = await addRecipients(context.root, environment, [recipient]);
    context.log(`new age key for ${environment} appended to ${context.keyFile} (keep it safe; never commit it)`);
    context.log(`recipient ${recipient} added to .sops.yaml`);
  }
  const passwords = new Map<string, string>();
  const password = (name: string, key: string) => passwords.get(`${name}/${key}`) ?? passwords.set(`${name}/${key}`, randomPassword()).get(`${name}/${key}`)!;
  for (const secret of required) {
    const file = secretFile(environment, secret);
    if (present.includes(file)) continue;
    const generated = [...secret.keys].filter(([, use]) => use.generated).map(([key]) => key);
    for (const [key, use] of secret.keys) {
      if (!use.generated) context.log(`${file}: set ${key} (${use.purpose}) with: npm run secrets -- set ${environment} ${secret.name} ${key} < <file>`);
    }
    if (generated.length === 0) continue;
    await writeEncrypted(context, environment, secret, Object.fromEntries(generated.map((key) => [key, password(secret.name, key)])));
    context.log(`wrote ${file} (${generated.join(', ')}: random)`);
  }
  context.log(`next: npm run compile, then commit .sops.yaml and overlays/${environment}/${SECRETS_DIR}/`);
}

/** Sets one key of one Secret in every namespace that reads it, keeping its other keys; creates the files that are new. */
export async function setValue(context: SecretsContext, environment: string, name: string, key: string, value: string): Promise<void> {
  if (value.length === 0) throw new Error('refusing to set an empty value');
  const config = await environmentConfig(context, environment);
  for (const secret of copiesOf(config, name)) {
    const file = secretFile(environment, secret);
    let values: Record<string, string> = {};
    if (await exists(join(context.root, file))) {
      const document = parseDocument(await decrypt(context.root, file, context.keyFile));
      values = (document.toJS() as { stringData?: Record<string, string> }).stringData ?? {};
    }
    values[key] = value;
    await writeEncrypted(context, environment, secret, values);
    context.log(`wrote ${file} (${key} set)`);
  }
  context.log('next: npm run compile, commit, and the pods that read it roll');
}

export async function rotateValue(context: SecretsContext, environment: string, name: string, key: string): Promise<void> {
  await setValue(context, environment, name, key, randomPassword());
}

/** Lets another age key decrypt the environment's Secrets (a new operator, or Flux's key). */
export async function addRecipient(context: SecretsContext, environment: string, recipient: string): Promise<void> {
  if (!/^age1[0-9a-z]{58}$/.test(recipient)) throw new Error(`"${recipient}" is not an age recipient (age1…)`);
  await addRecipients(context.root, environment, [recipient]);
  const dir = join(context.root, 'overlays', environment, SECRETS_DIR);
  const files = (await readdir(dir, { recursive: true }).catch(() => [] as string[])).filter((file) => file.endsWith('.yaml')).sort();
  for (const file of files) await updateKeys(context.root, `overlays/${environment}/${SECRETS_DIR}/${file}`, context.keyFile);
  context.log(`recipient added to .sops.yaml; ${files.length} file(s) of ${environment} re-keyed`);
}
