/**
 * `npm run doctor`: its list covers every module the Lua code requires, it names what is missing
 * with the command that installs it, `.ci/setup` installs what it lists, and `npm test` runs it
 * before anything else.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { debianPackages, LUA_MODULES, REQUIREMENTS } from './doctor.ts';
import { REPO_ROOT, STAGE_DIR } from './hindsight-stage.ts';

const run = promisify(execFile);
const DOCTOR = path.join(REPO_ROOT, 'test/support/doctor.ts');

interface DoctorRun {
  code: number;
  stdout: string;
  stderr: string;
}

async function doctor(env: NodeJS.ProcessEnv, args: string[] = []): Promise<DoctorRun> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', DOCTOR, ...args], { cwd: REPO_ROOT, env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string };
    return { code, stdout, stderr };
  }
}

function luaFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    if (name === 'node_modules' || name.startsWith('.')) return [];
    if (statSync(file).isDirectory()) return luaFiles(file);
    return name.endsWith('.lua') ? [file] : [];
  });
}

/** Every module name a `require "x"` or `require("x")` of the project's Lua code names. */
function requiredModules(): Set<string> {
  const names = new Set<string>();
  for (const file of [...luaFiles(path.join(REPO_ROOT, 'lua')), ...luaFiles(path.join(REPO_ROOT, 'test'))]) {
    for (const match of readFileSync(file, 'utf8').matchAll(/\brequire\s*\(?\s*["']([\w.]+)["']/g)) names.add(match[1]!);
  }
  return names;
}

/** The project's own modules: a file whose path ends in the module's name (a.b → a/b.lua), or the stage's C decoder. */
function isProjectModule(name: string, files: readonly string[]): boolean {
  const tail = `${path.sep}${name.replaceAll('.', path.sep)}`;
  return files.some((file) => file.endsWith(`${tail}.lua`) || file.endsWith(`${tail}.c`));
}

const LUA_STANDARD = new Set(['string', 'table', 'math', 'os', 'io', 'coroutine', 'debug', 'package']);

describe('npm run doctor', () => {
  it('knows a Debian package for every module the project\'s Lua code requires from the machine', () => {
    const files = [...luaFiles(REPO_ROOT), path.join(STAGE_DIR, 'native', 'heka_native.c')];
    const fromMachine = [...requiredModules()].filter((name) => !LUA_STANDARD.has(name) && !isProjectModule(name, files));
    assert.ok(fromMachine.includes('lpeg') && fromMachine.includes('socket.http'), `the scan found too little: ${fromMachine.join(', ')}`);
    const unknown = fromMachine.filter((name) => !(name in LUA_MODULES));
    assert.deepEqual(unknown, [], `required by the Lua code, unknown to test/support/doctor.ts LUA_MODULES: ${unknown.join(', ')}`);
  });

  it('checks exactly the modules the test stage offers plugins (sandbox.lua HOST_MODULES)', async () => {
    const script = `package.path = ${JSON.stringify(path.join(STAGE_DIR, 'lib', '?.lua'))} .. ";" .. package.path
      for name in pairs(require("sandbox").HOST_MODULES) do print(name) end`;
    const { stdout } = await run('lua5.1', ['-e', script]);
    assert.deepEqual(stdout.split('\n').filter(Boolean).sort(), Object.keys(LUA_MODULES).sort());
  });

  it('passes on this machine after npm run setup, in one line', async () => {
    const result = await doctor(process.env);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `doctor: all ${REQUIREMENTS.length} test dependencies present\n`);
  });

  it('names each Lua module it cannot load, with the Debian package to install, and exits 1', async () => {
    // lua5.1 runs LUA_INIT first: an empty C path hides every compiled module, as removing their packages would
    const result = await doctor({ ...process.env, LUA_INIT: 'package.cpath = ""' });
    assert.equal(result.code, 1);
    const lines = result.stderr.trimEnd().split('\n');
    for (const [name, pkg] of [['lpeg', 'lua-lpeg'], ['cjson', 'lua-cjson'], ['lfs', 'lua-filesystem'], ['socket.core', 'lua-socket']] as const) {
      const line = lines.find((text) => text.startsWith(`doctor: missing Lua module ${name} `));
      assert.ok(line, `no line for ${name} in:\n${result.stderr}`);
      assert.match(line, new RegExp(`module '${name.replace('.', '\\.')}' not found; install: apt-get install ${pkg}$`));
    }
    assert.ok(!lines.some((text) => text.startsWith('doctor: missing Lua module ltn12 ')), 'ltn12 is plain Lua: it still loads');
    assert.match(lines.at(-1)!, /^doctor: \d+ of \d+ test dependencies missing; `npm run setup` installs them all$/);
    assert.equal(result.stdout, '');
  });

  it('names each program missing from PATH with its package, and what it could not check without lua5.1', async () => {
    const bin = await mkdtemp(path.join(os.tmpdir(), 'doctor-path-'));
    await symlink(process.execPath, path.join(bin, 'node'));
    const result = await doctor({ ...process.env, PATH: bin }).finally(() => rm(bin, { recursive: true, force: true }));
    assert.equal(result.code, 1);
    for (const pkg of ['lua5.1', 'lua-busted', 'shellcheck', 'git', 'lua-lpeg']) {
      assert.match(result.stderr, new RegExp(`; install: apt-get install ${pkg.replace('.', '\\.')}\\n`), `nothing says to install ${pkg}:\n${result.stderr}`);
    }
    assert.match(result.stderr, /doctor: missing Lua module lpeg \(the test stage offers it to plugins\): not loaded: lua5\.1 not found; install: apt-get install lua-lpeg\n/);
    assert.match(result.stderr, /doctor: missing shellcheck \(the image and Grafana scripts\): shellcheck not on PATH; install: apt-get install shellcheck\n/);
  });

  it('lists the Debian packages for .ci/setup, which installs them and ends with the doctor', async () => {
    const result = await doctor(process.env, ['--debian-packages']);
    assert.equal(result.code, 0);
    const listed = result.stdout.trim().split(' ');
    assert.deepEqual(listed, debianPackages());
    for (const pkg of ['lua-lpeg', 'lua-filesystem', 'lua-socket', 'lua-cjson', 'lua-busted', 'influxdb', 'liblua5.1-0-dev', 'gcc']) assert.ok(listed.includes(pkg), pkg);
    const setup = readFileSync(path.join(REPO_ROOT, '.ci/setup'), 'utf8');
    assert.match(setup, /test\/support\/doctor\.ts --debian-packages/);
    assert.match(setup.trimEnd(), /\nnpm run --silent doctor$/);
  });

  it('runs first in npm test', () => {
    const scripts = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
    assert.match(scripts['test']!, /^npm run --silent doctor && /);
    assert.match(scripts['doctor']!, /test\/support\/doctor\.ts$/);
  });
});
