/**
 * .sops.yaml: one creation rule per environment, naming the age recipients that can decrypt
 * that environment's Secrets. Edited as a YAML document, so comments and order survive.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isMap, isSeq, parseDocument, type Document, type YAMLMap } from 'yaml';

export const SOPS_CONFIG = '.sops.yaml';

/** Only Secret values are encrypted; metadata stays readable for reviewers and kustomize. */
export const ENCRYPTED_REGEX = '^(data|stringData)$';

/** overlays/<env>/secrets/<namespace>/<name>.yaml */
export function secretsPathRegex(environment: string): string {
  return `(^|/)overlays/${environment}/secrets/[^/]+/[^/]+\\.yaml$`;
}

const HEADER = ' Which age recipients can decrypt each environment\'s Secrets. Managed by `npm run secrets`.';

async function readSopsConfig(root: string): Promise<Document> {
  const text = await readFile(join(root, SOPS_CONFIG), 'utf8').catch(() => '');
  const document = parseDocument(text || 'creation_rules: []\n');
  if (!text) document.commentBefore = HEADER;
  const rules = document.get('creation_rules');
  if (!isSeq(rules)) throw new Error(`${SOPS_CONFIG}: creation_rules is not a list`);
  rules.flow = false;
  return document;
}

/** The rule's path before Secrets had a directory per namespace: found, and rewritten when edited. */
const legacyPathRegex = (environment: string) => `(^|/)overlays/${environment}/secrets/[^/]+\\.yaml$`;

function ruleFor(document: Document, environment: string): YAMLMap | undefined {
  const rules = document.get('creation_rules');
  if (!isSeq(rules)) return undefined;
  const paths = [secretsPathRegex(environment), legacyPathRegex(environment)];
  return rules.items.find((rule): rule is YAMLMap => isMap(rule) && paths.includes(String(rule.get('path_regex'))));
}

export async function recipients(root: string, environment: string): Promise<string[]> {
  const rule = ruleFor(await readSopsConfig(root), environment);
  const age = rule?.get('age');
  return typeof age === 'string' ? age.split(',').map((recipient) => recipient.trim()).filter(Boolean) : [];
}

/** Adds recipients to the environment's rule, creating the rule if needed. */
export async function addRecipients(root: string, environment: string, added: readonly string[]): Promise<string[]> {
  const document = await readSopsConfig(root);
  let rule = ruleFor(document, environment);
  if (!rule) {
    rule = document.createNode({
      path_regex: secretsPathRegex(environment),
      encrypted_regex: ENCRYPTED_REGEX,
      // The MAC covers the encrypted values only, so kustomize may add labels and a namespace.
      mac_only_encrypted: true,
      age: '',
    }) as YAMLMap;
    (document.get('creation_rules') as { add(item: unknown): void }).add(rule);
  }
  rule.set('path_regex', secretsPathRegex(environment));
  const current = String(rule.get('age') ?? '').split(',').map((recipient) => recipient.trim()).filter(Boolean);
  const next = [...new Set([...current, ...added])];
  rule.set('age', next.join(','));
  await writeFile(join(root, SOPS_CONFIG), document.toString({ lineWidth: 0 }));
  return next;
}
