/**
 * The encrypted Secret files of an environment (overlays/<env>/secrets/<namespace>/<name>.yaml,
 * each naming its namespace). They are
 * inputs: read, checked and referenced, never rewritten. Their key names are plaintext in SOPS
 * files, so they are checked against what the config needs without decrypting anything.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StackConfig } from '../config/types.ts';
import type { Issue } from '../config/checks.ts';
import { entriesOf, type EncryptedSecret } from '../inputs.ts';
import { parseYamlDocuments } from '../render/yaml.ts';
import { SECRETS_DIR } from '../kustomize/overlay.ts';
import { requiredSecrets, secretId } from './credentials.ts';
import { byCodeUnit } from '../render/order.ts';

const ENCRYPTED_VALUE = /^ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]+,tag:[A-Za-z0-9+/=]+,type:[a-z]+\]$/;

export function secretsDir(root: string, environment: string): string {
  return join(root, 'overlays', environment, SECRETS_DIR);
}

interface ParsedSecret {
  kind?: unknown;
  apiVersion?: unknown;
  metadata?: { name?: unknown; namespace?: unknown };
  stringData?: Record<string, unknown>;
  data?: Record<string, unknown>;
  sops?: { mac?: unknown };
}

/** Problems that make a file unusable as an encrypted Secret, each naming the file. */
function fileProblems(file: string, secret: ParsedSecret, expectedNamespace: string, expectedName: string): string[] {
  const problems: string[] = [];
  if (secret.apiVersion !== 'v1' || secret.kind !== 'Secret') problems.push('is not a v1 Secret');
  if (secret.metadata?.name !== expectedName) problems.push(`metadata.name must be "${expectedName}", the file's name`);
  if (secret.metadata?.namespace !== expectedNamespace) problems.push(`metadata.namespace must be "${expectedNamespace}", its directory's name`);
  if (typeof secret.sops?.mac !== 'string') problems.push('is not SOPS-encrypted (no sops.mac): encrypt it with `npm run secrets`');
  const values = { ...secret.data, ...secret.stringData };
  for (const [key, value] of Object.entries(values)) {
    if (typeof value !== 'string' || !ENCRYPTED_VALUE.test(value)) problems.push(`value of "${key}" is not encrypted`);
  }
  return problems.map((problem) => `${file} ${problem}`);
}

/** The environment's Secret files: secrets/<namespace>/<name>.yaml, plus any file misplaced directly in secrets/. */
function secretFiles(dir: string): { namespace: string; file: string }[] {
  const entries = entriesOf(dir);
  const files: { namespace: string; file: string }[] = [];
  for (const entry of entries) {
    if (entry.isFile() && entry.name.endsWith('.yaml')) files.push({ namespace: '', file: entry.name });
    if (!entry.isDirectory()) continue;
    const inner = entriesOf(join(dir, entry.name)).map((dirent) => dirent.name);
    files.push(...inner.filter((file) => file.endsWith('.yaml')).map((file) => ({ namespace: entry.name, file })));
  }
  return files.sort((a, b) => byCodeUnit(`${a.namespace}/${a.file}`, `${b.namespace}/${b.file}`));
}

/** Reads every Secret file of the environment; problems are returned, not thrown. */
export function readEncryptedSecrets(root: string, environment: string): { secrets: EncryptedSecret[]; issues: Issue[] } {
  const dir = secretsDir(root, environment);
  const secrets: EncryptedSecret[] = [];
  const issues: Issue[] = [];
  for (const { namespace, file } of secretFiles(dir)) {
    const relative = [SECRETS_DIR, namespace, file].filter(Boolean).join('/');
    const shown = `overlays/${environment}/${relative}`;
    if (!namespace) {
      issues.push({ path: `${environment}.secrets`, message: `${shown} is not in a namespace's directory: move it to ${SECRETS_DIR}/<namespace>/${file} and set its metadata.namespace` });
      continue;
    }
    const text = readFileSync(join(dir, namespace, file), 'utf8');
    let parsed: ParsedSecret;
    try {
      [parsed] = parseYamlDocuments(text, shown) as [ParsedSecret];
    } catch (error) {
      issues.push({ path: `${environment}.secrets`, message: (error as Error).message });
      continue;
    }
    const name = file.slice(0, -'.yaml'.length);
    const problems = fileProblems(shown, parsed ?? {}, namespace, name);
    issues.push(...problems.map((message) => ({ path: `${environment}.secrets`, message })));
    const keys = Object.keys({ ...parsed?.data, ...parsed?.stringData });
    secrets.push({ name, namespace, file: relative, text, keys });
  }
  return { secrets, issues };
}

/** The line of a Secret file, as sops writes it, that names its namespace (the copies differ only there). */
export const namespaceLine = (namespace: string) => `\n    namespace: ${namespace}\n`;

const withoutNamespace = (secret: EncryptedSecret) => secret.text.replace(namespaceLine(secret.namespace), '\n');

/** Every Secret key the config references must exist in every namespace that reads it; every Secret file must be used. */
export function checkSecretKeys(config: StackConfig, environment: string, secrets: readonly EncryptedSecret[]): Issue[] {
  const byId = new Map(secrets.map((secret) => [secretId(secret), secret]));
  const issues: Issue[] = [];
  const required = requiredSecrets(config);
  for (const [id, { keys }] of required) {
    const secret = byId.get(id);
    const file = `overlays/${environment}/${SECRETS_DIR}/${id}.yaml`;
    for (const [key, use] of keys) {
      const path = `${environment}.${use.declaredAt}`;
      const fix = use.generated ? `npm run secrets -- init ${environment}` : `npm run secrets -- set ${environment} ${id.split('/')[1]} ${key} < <file>`;
      if (!secret) {
        issues.push({ path, message: `Secret "${id}" (${use.purpose}) does not exist: ${file} is missing (${fix})` });
      } else if (!secret.keys.includes(key)) {
        issues.push({ path, message: `Secret "${id}" has no key "${key}" (${use.purpose}; it has: ${secret.keys.join(', ') || 'none'}; ${fix})` });
      }
    }
  }
  for (const [index, secret] of secrets.entries()) {
    const twin = secrets.slice(0, index).find((other) => other.name === secret.name);
    if (twin && withoutNamespace(twin) !== withoutNamespace(secret)) {
      issues.push({
        path: `${environment}.secrets`,
        message: `overlays/${environment}/${secret.file} and overlays/${environment}/${twin.file} are not one ciphertext: the copies of a Secret must hold one value (npm run secrets -- rotate ${environment} ${secret.name} writes both)`,
      });
    }
  }
  for (const secret of secrets) {
    if (!required.has(secretId(secret))) {
      issues.push({ path: `${environment}.secrets`, message: `overlays/${environment}/${secret.file} is not used by any credential in namespace ${secret.namespace}: delete it or reference it in credentials` });
    }
  }
  return issues;
}
