-- luacheck (Debian: lua-check) for the Lua of this repository; run by test/lua/luacheck.test.ts:
--   luacheck lua test/lua test/support/hindsight-stage
-- Everything is Lua 5.1, the language of lua_sandbox; modules may use nothing but it.
std = "lua51"
max_line_length = 140

-- The output plugin interface of lua_sandbox 1.4 (docs/heka/output.md, src/heka/sandbox.c) as
-- Hindsight 0.16 offers it: functions the host provides, and the two the host calls.
-- (inject_payload and add_to_payload are analysis-plugin functions: not available to outputs.)
stds.lua_sandbox_output = {
    read_globals = {
        "read_config", "read_message", "decode_message", "encode_message", "update_checkpoint",
        "create_message_matcher", "inject_message",
    },
    globals = { "process_message", "timer_event" },
}

-- The plugins of the product, and the test stage's fixture plugins.
files["lua/output"] = { std = "+lua_sandbox_output" }
files["test/support/hindsight-stage/fixtures"] = { std = "+lua_sandbox_output" }
-- busted specs
files["test/lua/**/*_spec.lua"] = { std = "+busted" }
-- a fixture that must not compile (the stage's load-failure test)
exclude_files = { "test/support/hindsight-stage/fixtures/bad_syntax_out.lua" }
