/**
 * Age key pairs for SOPS. The private key goes to the operator's key file (outside git, mode
 * 0600, where sops looks for it); only the public recipient goes into .sops.yaml.
 */
import { appendFile, chmod, mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { generateIdentity, identityToRecipient } from 'age-encryption';

/** sops's own lookup: $SOPS_AGE_KEY_FILE, else ~/.config/sops/age/keys.txt. */
export function ageKeyFile(explicit?: string): string {
  return explicit ?? process.env.SOPS_AGE_KEY_FILE ?? join(process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'sops', 'age', 'keys.txt');
}

export async function createAgeKey(keyFile: string, label: string): Promise<string> {
  const identity = await generateIdentity();
  const recipient = await identityToRecipient(identity);
  await mkdir(dirname(keyFile), { recursive: true, mode: 0o700 });
  await appendFile(keyFile, `# ${label}\n# public key: ${recipient}\n${identity}\n`, { mode: 0o600 });
  await chmod(keyFile, 0o600);
  return recipient;
}
