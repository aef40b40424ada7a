-- Benchmarks of the output plugin in Lua 5.1, run by test/bench/pipeline.bench.ts:
--   encoder: stacklight.line_protocol.encode on Snap-like points (4 tags, a float, a ms timestamp);
--   plugin:  process_message on Snap messages exactly as the publisher frames them, through the
--            fake Hindsight driver's replay loop (return codes handled as Hindsight's C loop
--            does, nothing recorded; InfluxDB answers 204 instantly), default cfg;
--   plugin, Snap mix: the same on the mock publisher's messages for the shipped config (a file).
-- Prints one JSON object per line.
-- Usage: lua5.1 test/bench/plugin.bench.lua [points] [messages] [file of Snap messages]
local here = debug.getinfo(1, "S").source:match("^@(.*)plugin%.bench%.lua$") or "./"
package.path = here .. "../lua/?.lua;" .. here .. "../../lua/modules/?.lua;" .. package.path
local socket = require "socket"
local lp = require "stacklight.line_protocol"
local fh = require "fake_hindsight"

local points = tonumber(arg[1]) or 300000
local messages = tonumber(arg[2]) or 100000

local function best_of(runs, fn)
    local best = math.huge
    for _ = 1, runs do
        collectgarbage("collect")
        local started = socket.gettime()
        fn()
        best = math.min(best, socket.gettime() - started)
    end
    return best
end

-- Encoder --------------------------------------------------------------------------------------
local hosts, cpus = {}, {}
for i = 1, 50 do hosts[i] = "node-" .. i end
for i = 1, 16 do cpus[i] = tostring(i - 1) end
local encode = lp.encode
-- Steady state: 800 series (50 nodes x 16 CPUs), each a tags table of its own, as a caller that
-- keeps its series' tables (the plugin caches its series the same way).
local series = {}
for i = 1, 800 do
    series[i] = { cpuID = cpus[i % 16 + 1], hostname = hosts[math.floor((i - 1) / 16) + 1], cluster = "prod", environment = "prod" }
end
local function encode_points(tags_of)
    local fields = { value = 0 }
    local ts = 1700000000000
    for i = 1, points do
        fields.value = (i % 1000) * 0.137
        local line = encode("intel.procfs.cpu.user_percentage", tags_of(i), fields, ts + i)
        if not line then error("encode failed") end
    end
end
local encoder_seconds = best_of(5, function()
    encode_points(function(i) return series[i % 800 + 1] end)
end)
print(string.format('{"bench":"encoder","points":%d,"seconds":%.4f,"per_second":%.0f}', points, encoder_seconds, points / encoder_seconds))
-- Worst case: one table rewritten for every point, so every tag set is built and sorted anew.
local scratch = { cpuID = "0", hostname = "node-1", cluster = "prod", environment = "prod" }
local uncached_seconds = best_of(5, function()
    encode_points(function(i)
        scratch.cpuID = cpus[i % 16 + 1]
        scratch.hostname = hosts[i % 50 + 1]
        return scratch
    end)
end)
print(string.format('{"bench":"encoder_uncached_tags","points":%d,"seconds":%.4f,"per_second":%.0f}', points, uncached_seconds, points / uncached_seconds))

-- process_message ------------------------------------------------------------------------------
local raws = {}
local distinct = 5000
for i = 1, distinct do
    raws[i] = fh.snap_message({
        name = "intel.procfs.cpu.user_percentage",
        -- distinct values, as gauges mostly are: no cache can serve them
        value = (i * 7919 % 100003) / 7.3,
        value_type = 3,
        dynamic = { { "cpuID", cpus[i % 16 + 1] } },
        tags = { { "hostname", hosts[i % 50 + 1] } },
        timestamp = string.format("%d", 1700000000000000000 + i * 10000000000),
    })
end
-- The best time of process_message over `messages` messages taken cyclically from list.
local function replay_seconds(list)
    return best_of(5, function()
        local hs = fh.hindsight({ cfg = { ticker_interval = 0 } })
        if hs.replay(list, messages) ~= 0 then error("the plugin asked for a retry") end
        if hs.cp < messages - 5000 then error("the plugin did not commit") end
    end)
end
local plugin_seconds = replay_seconds(raws)
print(string.format('{"bench":"process_message","messages":%d,"seconds":%.4f,"per_second":%.0f}', messages, plugin_seconds, messages / plugin_seconds))

-- The same through the messages of a file written by pipeline.bench.ts: the mock Snap
-- publisher's messages for the shipped config (every collected family, its value types and tag
-- sets, distinct values and collection times), as records "<length>\n<bytes>".
if arg[3] then
    local snap = fh.read_records(arg[3])
    local mix_seconds = replay_seconds(snap)
    print(string.format('{"bench":"process_message_snap","messages":%d,"distinct":%d,"seconds":%.4f,"per_second":%.0f}', messages, #snap, mix_seconds, messages / mix_seconds))
end
