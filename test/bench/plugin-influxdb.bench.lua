-- The output plugin into a real InfluxDB, without the Hindsight stage: run by
-- test/bench/pipeline.bench.ts. The plugin (the compiler's cfg, real LuaSocket HTTP) is offered the
-- messages of a file by the fake Hindsight driver's replay loop (Hindsight's C loop: return codes
-- handled, nothing recorded), then stopped (timer_event with shutdown = true writes the rest).
-- Usage: lua5.1 test/bench/plugin-influxdb.bench.lua FILE CFG_JSON
-- FILE holds "<length>\n<bytes>" records; CFG_JSON is the plugin cfg the compiler emits
-- (compiler/collector/hindsight.ts influxdbOutputCfg), pointed at the test InfluxDB and a file
-- holding the writer's password (password_file).
-- Prints one JSON object.
local here = debug.getinfo(1, "S").source:match("^@(.*)plugin%-influxdb%.bench%.lua$") or "./"
package.path = here .. "../lua/?.lua;" .. here .. "../../lua/modules/?.lua;" .. package.path
local socket = require "socket"
local cjson = require "cjson"
local fh = require "fake_hindsight"

local file_name, cfg_json = arg[1], arg[2]
assert(cfg_json, "usage: plugin-influxdb.bench.lua FILE CFG_JSON")
local messages = fh.read_records(file_name)

local hs = fh.hindsight({
    real_http = true,
    cfg = cjson.decode(cfg_json),
})
assert(not hs.load_error, hs.load_error)
local started = socket.gettime()
local retries = hs.replay(messages, #messages)
hs.stop()
local seconds = socket.gettime() - started
local written = 0
for _, request in ipairs(hs.http.requests) do
    if request.accepted and not request.head:find("^hindsight_output") then
        written = written + request.lines
    end
end
print(string.format('{"points":%d,"written":%d,"requests":%d,"retries":%d,"seconds":%.4f,"per_second":%.0f}',
    #messages, written, #hs.http.requests, retries, seconds, #messages / seconds))
