/**
 * The real sops CLI, driven with zx. Plaintext only ever travels through pipes: it is never
 * written to disk and never passed as a command-line argument (which `ps` would show).
 */
import { $ } from 'zx';
import { join } from 'node:path';
import { tool } from '../tools.ts';
import { SOPS_CONFIG } from './sops-config.ts';

const quiet = { quiet: true, verbose: false } as const;

/** sops settings every call shares: the repository's .sops.yaml, no network version check. */
async function sops(root: string) {
  return { bin: await tool('sops'), config: join(root, SOPS_CONFIG), cwd: root };
}

/** Encrypts a plaintext YAML document as if it were `file` (which picks the creation rule). */
export async function encrypt(root: string, file: string, plaintext: string): Promise<string> {
  const { bin, config, cwd } = await sops(root);
  const result = await $({ ...quiet, cwd, input: plaintext })`${bin} --config ${config} encrypt --filename-override ${file} --input-type yaml --output-type yaml`;
  return result.stdout;
}

export async function decrypt(root: string, file: string, keyFile: string): Promise<string> {
  const { bin, config, cwd } = await sops(root);
  const env = { ...process.env, SOPS_AGE_KEY_FILE: keyFile };
  const result = await $({ ...quiet, cwd, env })`${bin} --config ${config} decrypt ${file}`;
  return result.stdout;
}

/** Re-encrypts the file's data key for the recipients .sops.yaml now names. */
export async function updateKeys(root: string, file: string, keyFile: string): Promise<void> {
  const { bin, config, cwd } = await sops(root);
  const env = { ...process.env, SOPS_AGE_KEY_FILE: keyFile };
  await $({ ...quiet, cwd, env })`${bin} --config ${config} updatekeys --yes ${file}`;
}

/**
 * Decrypts one encrypted document given as text (a Secret as `kustomize build` emits it, as
 * Flux's kustomize-controller decrypts it after the build), read from stdin; the plaintext comes
 * back through a pipe.
 */
export async function decryptText(root: string, encrypted: string, keyFile: string): Promise<string> {
  const { bin, config, cwd } = await sops(root);
  const env = { ...process.env, SOPS_AGE_KEY_FILE: keyFile };
  const result = await $({ ...quiet, cwd, env, input: encrypted })`${bin} --config ${config} decrypt --input-type yaml --output-type yaml`;
  return result.stdout;
}
