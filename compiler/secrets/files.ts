/**
 * The encrypted Secret files of an environment (overlays/<env>/secrets/<name>.yaml). They are
 * inputs: read, checked and referenced, never rewritten. Their key names are plaintext in SOPS
 * files, so they are checked against what the config needs without decrypting anything.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StackConfig } from '../config/types.ts';
import type { Issue } from '../config/checks.ts';
import type { EncryptedSecret } from '../inputs.ts';
import { parseYamlDocuments } from '../render/yaml.ts';
import { SECRETS_DIR } from '../kustomize/overlay.ts';
import { CREDENTIAL_USES, requiredSecrets } from './credentials.ts';

const ENCRYPTED_VALUE = /^ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]+,tag:[A-Za-z0-9+/=]+,type:[a-z]+\]$/;

export function secretsDir(root: string, environment: string): string {
  return join(root, 'overlays', environment, SECRETS_DIR);
}

interface ParsedSecret {
  kind?: unknown;
  apiVersion?: unknown;
  metadata?: { name?: unknown };
  stringData?: Record<string, unknown>;
  data?: Record<string, unknown>;
  sops?: { mac?: unknown };
}

/** Problems that make a file unusable as an encrypted Secret, each naming the file. */
function fileProblems(file: string, secret: ParsedSecret, expectedName: string): string[] {
  const problems: string[] = [];
  if (secret.apiVersion !== 'v1' || secret.kind !== 'Secret') problems.push('is not a v1 Secret');
  if (secret.metadata?.name !== expectedName) problems.push(`metadata.name must be "${expectedName}", the file's name`);
  if (typeof secret.sops?.mac !== 'string') problems.push('is not SOPS-encrypted (no sops.mac): encrypt it with `npm run secrets`');
  const values = { ...secret.data, ...secret.stringData };
  for (const [key, value] of Object.entries(values)) {
    if (typeof value !== 'string' || !ENCRYPTED_VALUE.test(value)) problems.push(`value of "${key}" is not encrypted`);
  }
  return problems.map((problem) => `${file} ${problem}`);
}

/** Reads every Secret file of the environment; problems are returned, not thrown. */
export async function readEncryptedSecrets(root: string, environment: string): Promise<{ secrets: EncryptedSecret[]; issues: Issue[] }> {
  const dir = secretsDir(root, environment);
  let files: string[];
  try {
    files = (await readdir(dir)).filter((file) => file.endsWith('.yaml')).sort();
  } catch {
    files = [];
  }
  const secrets: EncryptedSecret[] = [];
  const issues: Issue[] = [];
  for (const file of files) {
    const relative = `${SECRETS_DIR}/${file}`;
    const shown = `overlays/${environment}/${relative}`;
    const text = await readFile(join(dir, file), 'utf8');
    let parsed: ParsedSecret;
    try {
      [parsed] = parseYamlDocuments(text, shown) as [ParsedSecret];
    } catch (error) {
      issues.push({ path: `${environment}.secrets`, message: (error as Error).message });
      continue;
    }
    const name = file.slice(0, -'.yaml'.length);
    const problems = fileProblems(shown, parsed ?? {}, name);
    issues.push(...problems.map((message) => ({ path: `${environment}.secrets`, message })));
    const keys = Object.keys({ ...parsed?.data, ...parsed?.stringData });
    secrets.push({ name, file: relative, text, keys });
  }
  return { secrets, issues };
}

/** Every Secret key the config references must exist; every Secret file must be used. */
export function checkSecretKeys(config: StackConfig, environment: string, secrets: readonly EncryptedSecret[]): Issue[] {
  const byName = new Map(secrets.map((secret) => [secret.name, secret]));
  const issues: Issue[] = [];
  const required = requiredSecrets(config);
  for (const [name, keys] of required) {
    const secret = byName.get(name);
    for (const [key, credential] of keys) {
      const path = `${environment}.credentials.${credential}`;
      const use = CREDENTIAL_USES[credential].purpose;
      if (!secret) {
        issues.push({ path, message: `Secret "${name}" (${use}) does not exist: overlays/${environment}/${SECRETS_DIR}/${name}.yaml is missing (npm run secrets -- init ${environment})` });
      } else if (!secret.keys.includes(key)) {
        issues.push({ path, message: `Secret "${name}" has no key "${key}" (it has: ${secret.keys.join(', ') || 'none'})` });
      }
    }
  }
  for (const secret of secrets) {
    if (!required.has(secret.name)) {
      issues.push({ path: `${environment}.secrets`, message: `overlays/${environment}/${secret.file} is not used by any credential: delete it or reference it in credentials` });
    }
  }
  return issues;
}
