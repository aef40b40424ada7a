/**
 * Builds the stage's C decoder (hindsight-stage/native/heka_native.c, a Lua 5.1 module) with the
 * machine's C compiler and Debian's Lua 5.1 headers (liblua5.1-0-dev, installed by `npm run
 * setup`), once per version of the source, compiler and flags: the module lands in this
 * checkout's node_modules/.cache, in a directory named after their hash, and the stage's
 * processes find it through LUA_CPATH (hekaNativeEnv()).
 *
 * A failed build is an error, not a silent fall-back to the Lua decoder: the stage's figures
 * would change without anyone being told.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const HEKA_NATIVE_SOURCE = fileURLToPath(new URL('./hindsight-stage/native/heka_native.c', import.meta.url));
export const LUA_INCLUDE = '/usr/include/lua5.1';
export const CC = process.env['CC'] ?? 'cc';
const CFLAGS = ['-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', `-I${LUA_INCLUDE}`];
const CACHE_DIR = fileURLToPath(new URL('../../node_modules/.cache/stacklight/', import.meta.url));

let built: Promise<string> | undefined;

/** The directory holding heka_native.so, built on first use. */
export function buildHekaNative(): Promise<string> {
  built ??= build();
  return built;
}

async function build(): Promise<string> {
  const source = readFileSync(HEKA_NATIVE_SOURCE);
  const hash = createHash('sha256').update(source).update(JSON.stringify([CC, CFLAGS])).digest('hex').slice(0, 16);
  const dir = path.join(CACHE_DIR, `heka-native-${hash}`);
  const module = path.join(dir, 'heka_native.so');
  if (existsSync(module)) return dir;
  if (!existsSync(path.join(LUA_INCLUDE, 'lua.h'))) {
    throw new Error(`the stage's C decoder needs the Lua 5.1 headers in ${LUA_INCLUDE}: run npm run setup (Debian package liblua5.1-0-dev)`);
  }
  await mkdir(dir, { recursive: true });
  // built beside, then renamed: a concurrent build or a reader never sees half a file
  const partial = `${module}.${process.pid}.tmp`;
  try {
    await run(CC, [...CFLAGS, '-o', partial, HEKA_NATIVE_SOURCE]);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? String(error);
    throw new Error(`building the stage's C decoder (${HEKA_NATIVE_SOURCE}) failed:\n${stderr}`, { cause: error });
  }
  await rename(partial, module);
  return dir;
}

/**
 * The environment that lets lua5.1 find heka_native first, then whatever LUA_CPATH held (or the
 * default path: ";;"). A stage given LUA_CPATH in its own env overrides this one.
 */
export async function hekaNativeEnv(): Promise<{ LUA_CPATH: string }> {
  return { LUA_CPATH: `${path.join(await buildHekaNative(), '?.so')};${process.env['LUA_CPATH'] ?? ';'}` };
}
