/**
 * What the compiler reads besides the config: the Lua files and, for an environment, its
 * encrypted Secrets. Components receive these as values, so they stay pure functions.
 */
import { readdirSync, type Dirent } from 'node:fs';

/**
 * A directory's entries, none when it cannot be read. The compile reads its inputs and its
 * previous output synchronously: a few dozen small files, where each asynchronous read would
 * cost several round trips through libuv's thread pool.
 */
export function entriesOf(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** A SOPS-encrypted Secret file, kept byte for byte (its MAC covers every field and their order). */
export interface EncryptedSecret {
  /** The Secret's metadata.name and metadata.namespace (its file's name and directory). */
  name: string;
  namespace: string;
  /** The file's path relative to the environment's overlay, e.g. "secrets/stacklight/influxdb-writer.yaml". */
  file: string;
  /** The file's bytes. */
  text: string;
  /** The keys under stringData/data (plaintext in SOPS files). */
  keys: readonly string[];
}

export interface BuildInputs {
  /** Files under lua/, by path relative to lua/, e.g. "output/influxdb_out.lua". */
  lua: ReadonlyMap<string, string>;
  /** The environment's encrypted Secrets by `<namespace>/<name>` (secretId); empty for base. */
  secrets: ReadonlyMap<string, EncryptedSecret>;
}

/** The ciphertexts of these Secrets (secretIds), for config-hash annotations: a rotation rolls the pods. */
export function secretTexts(inputs: BuildInputs, ids: readonly string[]): string[] {
  return [...new Set(ids)].sort().map((id) => inputs.secrets.get(id)?.text ?? '');
}
