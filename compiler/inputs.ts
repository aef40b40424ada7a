/**
 * What the compiler reads besides the config: the Lua files and, for an environment, its
 * encrypted Secrets. Components receive these as values, so they stay pure functions.
 */

/** A SOPS-encrypted Secret file, kept byte for byte (its MAC covers every field and their order). */
export interface EncryptedSecret {
  /** The Secret's metadata.name. */
  name: string;
  /** The file's path relative to the environment's overlay, e.g. "secrets/influxdb-writer.yaml". */
  file: string;
  /** The file's bytes. */
  text: string;
  /** The keys under stringData/data (plaintext in SOPS files). */
  keys: readonly string[];
}

export interface BuildInputs {
  /** Files under lua/, by path relative to lua/, e.g. "output/influxdb_out.lua". */
  lua: ReadonlyMap<string, string>;
  /** The environment's encrypted Secrets by name; empty for base. */
  secrets: ReadonlyMap<string, EncryptedSecret>;
}

/** The ciphertexts of the named Secrets, for config-hash annotations: a rotation rolls the pods. */
export function secretTexts(inputs: BuildInputs, names: readonly string[]): string[] {
  return [...new Set(names)].sort().map((name) => inputs.secrets.get(name)?.text ?? '');
}
