/**
 * Lints the project's Lua with luacheck (Debian package lua-check; CI installs it with apt), under
 * the repository's .luacheckrc (Lua 5.1, lua_sandbox's output-plugin globals for lua/output and
 * the stage's fixture plugins, busted's for the specs): any warning or error fails the test. By
 * hand, from the repository root:
 *
 *   luacheck lua test/lua test/support/hindsight-stage
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../compiler/tools.ts';
import { onPath } from '../support/on-path.ts';

const TARGETS = ['lua', 'test/lua', 'test/support/hindsight-stage'];

test(`luacheck ${TARGETS.join(' ')}: no warnings`, () => {
  const luacheck = onPath('luacheck');
  assert.ok(luacheck, 'luacheck not found on PATH: apt-get install lua-check');
  assert.ok(existsSync(path.join(REPO_ROOT, '.luacheckrc')), 'no .luacheckrc at the repository root');
  const result = spawnSync(luacheck, ['--no-color', '--codes', ...TARGETS], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, LUA_PATH: undefined, LUA_CPATH: undefined, LUA_INIT: undefined },
  });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  assert.equal(result.error, undefined, `luacheck could not run: ${String(result.error)}`);
  const total = /Total: (\d+) warnings? \/ (\d+) errors? in (\d+) files?/.exec(output);
  assert.ok(total, `no luacheck summary in its output:\n${output}`);
  const [, warnings, errors, files] = total.map(Number);
  const findings = output.split('\n').filter((line) => /^\s+\S+:\d+:\d+:/.test(line)).join('\n');
  assert.equal(warnings, 0, `luacheck found problems:\n${findings}`);
  assert.equal(errors, 0, `luacheck found problems:\n${findings}`);
  assert.equal(result.status, 0, `luacheck exited with ${String(result.status)}:\n${output}`);
  assert.ok((files ?? 0) >= 30, `luacheck checked only ${String(files)} files:\n${output}`);
});
