/**
 * Runs the Lua unit tests (test/lua/*_spec.lua, busted) under Lua 5.1, the language of
 * lua_sandbox, one node:test per spec file; a failing or erroring busted test fails it.
 *
 * Needs the Debian packages lua5.1, lua-socket, lua-cjson and lua-busted (CI installs them with
 * apt). busted is started as `lua5.1 <path of busted> ...` rather than through its
 * `#!/usr/bin/env lua` line, so the tests run under Lua 5.1 whatever `lua` points to; by hand:
 *
 *   lua5.1 "$(command -v busted)" -C test/lua .      # or: busted --lua=lua5.1 -C test/lua .
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onPath } from '../support/on-path.ts';

const SPEC_DIR = path.dirname(fileURLToPath(import.meta.url));

const lua = onPath('lua5.1');
const busted = onPath('busted');
const specs = readdirSync(SPEC_DIR).filter((file) => file.endsWith('_spec.lua')).sort();

test('the Lua specs are found', () => {
  assert.ok(specs.length >= 4, `expected the *_spec.lua files in ${SPEC_DIR}, found ${specs.join(', ')}`);
});

for (const spec of specs) {
  test(`busted (Lua 5.1): ${spec}`, () => {
    assert.ok(lua && busted, 'lua5.1 or busted not found on PATH: apt-get install lua5.1 lua-socket lua-cjson lua-busted');
    const result = spawnSync(lua, [busted, '--output=plainTerminal', '-C', SPEC_DIR, spec], {
      cwd: SPEC_DIR,
      encoding: 'utf8',
      timeout: 300_000,
      env: { ...process.env, LUA_PATH: undefined, LUA_CPATH: undefined, LUA_INIT: undefined },
    });
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
    assert.equal(result.error, undefined, `busted could not run: ${String(result.error)}`);
    const summary = /(\d+) successes? \/ (\d+) failures? \/ (\d+) errors?/.exec(output);
    assert.ok(summary, `no busted summary in its output:\n${output}`);
    const [, successes, failures, errors] = summary.map(Number);
    assert.equal(result.status, 0, `busted exited with ${String(result.status)}:\n${output}`);
    assert.equal(failures, 0, output);
    assert.equal(errors, 0, output);
    assert.ok((successes ?? 0) > 0, `busted ran no test in ${spec}:\n${output}`);
  });
}
