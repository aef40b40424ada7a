/**
 * What changed between two builds of the same environment: objects added, removed and changed,
 * and for a changed object each changed field as a JSON path with its old and new value.
 *
 * - Objects are matched by kind, namespace and name.
 * - List items are matched by `name` where every item on both sides has a distinct one
 *   (`spec.template.spec.containers[snap]`), else by position (`args[0]`); a list of plain
 *   values is compared whole.
 * - Long or multi-line strings (ConfigMap files) are summarised as a line count with a unified
 *   diff; JSON documents are compared pretty-printed.
 * - Secrets: never a value, never ciphertext. For `data` and `stringData` only which keys were
 *   added, removed or changed (SOPS re-encrypts only a changed value, so two different ENC[...]
 *   strings mean a changed value); of the `sops` block only the age recipients (public keys), as
 *   the rest (data keys, MAC, timestamp) is ciphertext or follows from the values.
 */
import { unifiedDiff } from './text.ts';

export interface ObjectId {
  kind: string;
  namespace?: string;
  name: string;
}

export interface FieldChange {
  /** A JSON path, e.g. `spec.template.spec.containers[snap].resources.limits.memory`. */
  path: string;
  /** One line: `256Mi → 512Mi`, `+3 −1 lines`, `value changed (encrypted)`. */
  summary: string;
  /** For short values: each side on one line, as in the summary (`(none)` when absent). */
  before?: string;
  after?: string;
  /** For text changes: the unified hunks. */
  diff?: string[];
}

export interface ChangedObject {
  id: string;
  fields: FieldChange[];
}

export interface EnvironmentDiff {
  /** `base` or `overlays/<env>`. */
  name: string;
  added: string[];
  removed: string[];
  changed: ChangedObject[];
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** Strings longer than this, or with a line break, are compared as text. */
const LONG = 120;
const ABSENT = '(none)';

export function objectId(object: JsonObject): string {
  const metadata = (isObject(object.metadata) ? object.metadata : {}) as JsonObject;
  const parts = [String(object.kind)];
  if (typeof metadata.namespace === 'string' && metadata.namespace) parts.push(metadata.namespace);
  parts.push(String(metadata.name));
  return parts.join('/');
}

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const compareStrings = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function keySegment(key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

function join(path: string, key: string): string {
  const segment = keySegment(key);
  return path === '' && segment.startsWith('.') ? segment.slice(1) : `${path}${segment}`;
}

function itemSegment(name: string): string {
  return /^[A-Za-z0-9_.:/-]+$/.test(name) ? `[${name}]` : `[${JSON.stringify(name)}]`;
}

/** A value on one line; strings bare when that is unambiguous. */
export function formatValue(value: Json | undefined): string {
  if (value === undefined) return ABSENT;
  if (typeof value === 'string') {
    const ambiguous = value === '' || value !== value.trim() || value === ABSENT || /^(true|false|null|-?\d[\d.e+-]*|[[{"].*)$/.test(value);
    return ambiguous ? JSON.stringify(value) : value;
  }
  return JSON.stringify(value);
}

/** The text a long value is compared as: strings as they are (JSON documents pretty-printed), anything else as JSON. */
function asText(value: Json | undefined): string {
  if (value === undefined) return '';
  if (typeof value === 'string') {
    const trimmed = value.trim();
    if (/^[[{]/.test(trimmed)) {
      try {
        return `${JSON.stringify(JSON.parse(trimmed), null, 2)}\n`;
      } catch {
        // not JSON: compare as it is
      }
    }
    return value;
  }
  return `${JSON.stringify(value, null, 2)}\n`;
}

function isLong(value: Json | undefined): boolean {
  if (value === undefined) return false;
  if (typeof value === 'string') return value.includes('\n') || value.length > LONG;
  return formatValue(value).length > LONG;
}

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;

function valueChange(path: string, before: Json | undefined, after: Json | undefined): FieldChange {
  if (!isLong(before) && !isLong(after)) {
    const [a, b] = [formatValue(before), formatValue(after)];
    return { path, summary: `${a} → ${b}`, before: a, after: b };
  }
  const { added, removed, unified } = unifiedDiff(asText(before), asText(after));
  const what = before === undefined ? 'added' : after === undefined ? 'removed' : 'changed';
  const counts = what === 'added' ? plural(added, 'line') : what === 'removed' ? plural(removed, 'line') : `+${added} −${removed} lines`;
  return { path, summary: `${what} (${counts})`, diff: unified };
}

/** `name` of every item, when every item on both sides is an object with a distinct string name. */
function namesOf(before: Json[], after: Json[]): [string[], string[]] | undefined {
  const names = (list: Json[]) => list.map((item) => (isObject(item) && typeof item.name === 'string' ? item.name : undefined));
  const [a, b] = [names(before), names(after)];
  const distinct = (list: (string | undefined)[]): list is string[] =>
    list.every((name) => name !== undefined) && new Set(list).size === list.length;
  return distinct(a) && distinct(b) ? [a, b] : undefined;
}

function isPlain(value: Json): boolean {
  return value === null || typeof value !== 'object';
}

function compareValues(path: string, before: Json | undefined, after: Json | undefined, out: FieldChange[]): void {
  if (JSON.stringify(before) === JSON.stringify(after)) return;
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort(compareStrings);
    for (const key of keys) compareValues(join(path, key), before[key], after[key], out);
    return;
  }
  if (Array.isArray(before) && Array.isArray(after) && !(before.every(isPlain) && after.every(isPlain))) {
    const names = namesOf(before, after);
    if (names) {
      const [beforeNames, afterNames] = names;
      const all = [...new Set([...beforeNames, ...afterNames])].sort(compareStrings);
      for (const name of all) {
        const a = before[beforeNames.indexOf(name)];
        const b = after[afterNames.indexOf(name)];
        compareValues(`${path}${itemSegment(name)}`, a, b, out);
      }
      const common = beforeNames.filter((name) => afterNames.includes(name));
      const commonAfter = afterNames.filter((name) => beforeNames.includes(name));
      if (common.join('\0') !== commonAfter.join('\0')) out.push({ path, summary: `order changed: ${common.join(', ')} → ${commonAfter.join(', ')}` });
      return;
    }
    for (let index = 0; index < Math.max(before.length, after.length); index++) {
      compareValues(`${path}[${index}]`, before[index], after[index], out);
    }
    return;
  }
  out.push(valueChange(path, before, after));
}

/** Keys of a Secret's data/stringData: which changed, never how. */
function compareSecretData(path: string, before: Json | undefined, after: Json | undefined, out: FieldChange[]): void {
  const a = isObject(before) ? before : {};
  const b = isObject(after) ? after : {};
  const encrypted = (value: Json | undefined) => typeof value === 'string' && value.startsWith('ENC[');
  for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort(compareStrings)) {
    const keyPath = join(path, key);
    if (!(key in a)) out.push({ path: keyPath, summary: 'key added' });
    else if (!(key in b)) out.push({ path: keyPath, summary: 'key removed' });
    else if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) {
      out.push({ path: keyPath, summary: encrypted(a[key]) || encrypted(b[key]) ? 'value changed (encrypted)' : 'value changed' });
    }
  }
}

function recipients(sops: Json | undefined): string[] {
  if (!isObject(sops) || !Array.isArray(sops.age)) return [];
  return sops.age.flatMap((entry) => (isObject(entry) && typeof entry.recipient === 'string' ? [entry.recipient] : [])).sort(compareStrings);
}

function compareSecrets(before: JsonObject, after: JsonObject, out: FieldChange[]): void {
  const { data: dataA, stringData: stringDataA, sops: sopsA, ...restA } = before;
  const { data: dataB, stringData: stringDataB, sops: sopsB, ...restB } = after;
  compareValues('', restA, restB, out);
  compareSecretData('data', dataA, dataB, out);
  compareSecretData('stringData', stringDataA, stringDataB, out);
  const [a, b] = [recipients(sopsA), recipients(sopsB)];
  const gone = a.filter((recipient) => !b.includes(recipient));
  const come = b.filter((recipient) => !a.includes(recipient));
  if (gone.length > 0 || come.length > 0) {
    out.push({ path: 'sops.age', summary: [...come.map((r) => `+${r}`), ...gone.map((r) => `−${r}`)].join(' ') + ' (recipients)' });
  }
}

/** The changed fields of one object, sorted by path. */
export function compareObjects(before: object, after: object): FieldChange[] {
  const [a, b] = [before as JsonObject, after as JsonObject];
  const out: FieldChange[] = [];
  if (a.kind === 'Secret' && b.kind === 'Secret') compareSecrets(a, b, out);
  else compareValues('', a, b, out);
  return out;
}

/** Objects added, removed and changed between two builds of one environment. */
export function compareBuilds(name: string, before: readonly unknown[], after: readonly unknown[]): EnvironmentDiff {
  const index = (objects: readonly unknown[]) => {
    const byId = new Map<string, JsonObject>();
    for (const object of objects) {
      if (!isObject(object)) continue;
      const id = objectId(object);
      if (byId.has(id)) throw new Error(`${name}: ${id} appears twice in the build`);
      byId.set(id, object);
    }
    return byId;
  };
  const [a, b] = [index(before), index(after)];
  const ids = [...new Set([...a.keys(), ...b.keys()])].sort(compareStrings);
  const diff: EnvironmentDiff = { name, added: [], removed: [], changed: [] };
  for (const id of ids) {
    const [x, y] = [a.get(id), b.get(id)];
    if (!x) diff.added.push(id);
    else if (!y) diff.removed.push(id);
    else {
      const fields = compareObjects(x, y);
      if (fields.length > 0) diff.changed.push({ id, fields });
    }
  }
  return diff;
}

export function hasChanges(diff: EnvironmentDiff): boolean {
  return diff.added.length + diff.removed.length + diff.changed.length > 0;
}
