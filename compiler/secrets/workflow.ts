/**
 * The secrets workflow behind `npm run secrets`: initialise an environment, set or rotate one
 * value, add a recipient. Every file is written by sops; the compile only reads them.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import type { StackConfig } from '../config/types.ts';
import { environmentConfig } from '../config/load.ts';
import { toYaml } from '../render/yaml.ts';
import { SECRETS_DIR } from '../kustomize/overlay.ts';
import { requiredSecrets, secretId, type RequiredSecret, type SecretRef } from './credentials.ts';
import { namespaceLine } from './files.ts';
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

/** The one environment's config: the others' problems do not block a rotation here. */
const ownConfig = (context: SecretsContext, environment: string) => environmentConfig(context.configDir, environment, { alone: true });

function plaintextSecret(ref: SecretRef, values: Record<string, string>): string {
  return toYaml({ apiVersion: 'v1', kind: 'Secret', metadata: { name: ref.name, namespace: ref.namespace }, type: 'Opaque', stringData: values });
}

async function exists(path: string): Promise<boolean> {
  return readFile(path).then(() => true, () => false);
}

/**
 * Writes one Secret to every namespace that reads it as ONE ciphertext: the copies differ only in
 * their metadata.namespace, which the MAC does not cover (mac_only_encrypted), so they cannot
 * hold different values and the compile can check that they do not.
 */
async function writeCopies(
  context: SecretsContext,
  environment: string,
  copies: readonly SecretRef[],
  values: Record<string, string>,
): Promise<void> {
  const [first] = copies;
  const ciphertext = await encrypt(context.root, secretFile(environment, first!), plaintextSecret(first!, values));
  await writeCiphertextCopies(context, environment, copies, first!.namespace, ciphertext);
}

async function writeCiphertextCopies(
  context: SecretsContext,
  environment: string,
  copies: readonly SecretRef[],
  from: string,
  ciphertext: string,
): Promise<void> {
  if (!ciphertext.includes(namespaceLine(from))) throw new Error(`the encrypted Secret does not name namespace ${from} where expected`);
  for (const ref of copies) {
    await mkdir(join(context.root, 'overlays', environment, SECRETS_DIR, ref.namespace), { recursive: true });
    const copy = ciphertext.replace(namespaceLine(from), namespaceLine(ref.namespace));
    await writeFile(join(context.root, secretFile(environment, ref)), copy);
  }
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
 * random passwords. A Secret that exists in one namespace is copied to the others that read it,
 * never made up anew: its copies hold one value.
 */
export async function initEnvironment(context: SecretsContext, environment: string): Promise<void> {
  const config = await ownConfig(context, environment);
  const required = [...requiredSecrets(config).values()];
  const present = new Set<string>();
  for (const secret of required) {
    if (await exists(join(context.root, secretFile(environment, secret)))) present.add(secretId(secret));
  }
  if (present.size === required.length) throw new Error(`${environment} is already initialised (${[...present].join(', ')}): use rotate or set`);

  if ((await recipients(context.root, environment)).length === 0) {
    const recipient = await createAgeKey(context.keyFile, `ms-stacklight ${environment}`);
    await addRecipients(context.root, environment, [recipient]);
    context.log(`new age key for ${environment} appended to ${context.keyFile} (keep it safe; never commit it)`);
    context.log(`recipient ${recipient} added to .sops.yaml`);
  }
  for (const name of new Set(required.map((secret) => secret.name))) {
    const copies = required.filter((secret) => secret.name === name);
    const missing = copies.filter((secret) => !present.has(secretId(secret)));
    if (missing.length === 0) continue;
    const existing = copies.find((secret) => present.has(secretId(secret)));
    if (existing) {
      const ciphertext = await readFile(join(context.root, secretFile(environment, existing)), 'utf8');
      await writeCiphertextCopies(context, environment, missing, existing.namespace, ciphertext);
      for (const secret of missing) context.log(`wrote ${secretFile(environment, secret)} (a copy of ${secretFile(environment, existing)})`);
      continue;
    }
    const keys = [...missing[0]!.keys];
    for (const [key, use] of keys) {
      if (!use.generated) context.log(`${secretFile(environment, missing[0]!)}: set ${key} (${use.purpose}) with: npm run secrets -- set ${environment} ${name} ${key} < <file>`);
    }
    const generated = keys.filter(([, use]) => use.generated).map(([key]) => key);
    if (generated.length === 0) continue;
    await writeCopies(context, environment, missing, Object.fromEntries(generated.map((key) => [key, randomPassword()])));
    for (const secret of missing) context.log(`wrote ${secretFile(environment, secret)} (${generated.join(', ')}: random)`);
  }
  context.log(`next: npm run compile, then commit .sops.yaml and overlays/${environment}/${SECRETS_DIR}/`);
}

/** Sets one key of one Secret in every namespace that reads it, keeping its other keys; creates the files that are new. */
export async function setValue(context: SecretsContext, environment: string, name: string, key: string, value: string): Promise<void> {
  if (value.length === 0) throw new Error('refusing to set an empty value');
  const config = await ownConfig(context, environment);
  const copies = copiesOf(config, name);
  let values: Record<string, string> = {};
  for (const secret of copies) {
    const file = secretFile(environment, secret);
    if (!(await exists(join(context.root, file)))) continue;
    const document = parseDocument(await decrypt(context.root, file, context.keyFile));
    values = (document.toJS() as { stringData?: Record<string, string> }).stringData ?? {};
    break;
  }
  values[key] = value;
  await writeCopies(context, environment, copies, values);
  for (const secret of copies) context.log(`wrote ${secretFile(environment, secret)} (${key} set)`);
  context.log('next: npm run compile, commit, and the pods that read it roll');
}

export async function rotateValue(context: SecretsContext, environment: string, name: string, key: string): Promise<void> {
  await setValue(context, environment, name, key, randomPassword());
}

/** Lets another age key decrypt the environment's Secrets (a new operator, or Flux's key). */
/**
 * Adds a recipient and re-keys every Secret file of the environment. sops re-encrypts the data
 * key at random for each file, so a Secret read in several namespaces is re-keyed once and its
 * other copies are written from that one: they stay one ciphertext.
 */
export async function addRecipient(context: SecretsContext, environment: string, recipient: string): Promise<void> {
  if (!/^age1[0-9a-z]{58}$/.test(recipient)) throw new Error(`"${recipient}" is not an age recipient (age1…)`);
  await addRecipients(context.root, environment, [recipient]);
  const dir = join(context.root, 'overlays', environment, SECRETS_DIR);
  const files = (await readdir(dir, { recursive: true }).catch(() => [] as string[])).filter((file) => file.endsWith('.yaml')).sort();
  const copiesByName = new Map<string, SecretRef[]>();
  for (const file of files) {
    const [namespace, base] = file.split('/');
    if (base === undefined) {
      // outside a namespace's directory (the compile says to move it): re-keyed on its own
      await updateKeys(context.root, `overlays/${environment}/${SECRETS_DIR}/${file}`, context.keyFile);
      continue;
    }
    const name = base.slice(0, -'.yaml'.length);
    copiesByName.set(name, [...(copiesByName.get(name) ?? []), { namespace: namespace!, name }]);
  }
  for (const [first, ...others] of copiesByName.values()) {
    await updateKeys(context.root, secretFile(environment, first!), context.keyFile);
    if (others.length === 0) continue;
    const ciphertext = await readFile(join(context.root, secretFile(environment, first!)), 'utf8');
    await writeCiphertextCopies(context, environment, others, first!.namespace, ciphertext);
  }
  context.log(`recipient added to .sops.yaml; ${files.length} file(s) of ${environment} re-keyed`);
}
