-- Test support (not deployed): the output plugin's peak heap, garbage included, the figure
-- lua_sandbox enforces. Its allocator refuses any allocation past memory_limit and Lua 5.1 has no
-- emergency collection, so the plugin is terminated the moment the heap (live data plus garbage
-- not yet collected) would pass the limit.
--
-- Runs in a process of its own, because everything live in a Lua state raises the collector's
-- threshold and so the garbage allowed: here the state holds little more than the plugin, as the
-- sandbox's does. Every message is made by one concatenation (as read_message("raw") makes one
-- string per call) from per-series heads and rotating value and timestamp fields, all distinct
-- points. Long tag values (deep kubelet mount paths) make batches fill by bytes and the series
-- cache by bytes too.
--
-- Usage: lua5.1 test/lua/memory_probe.lua [series] [messages] [batch_max_bytes]
-- Prints one JSON object: the peak above the state before the plugin was loaded, sampled every
-- 1000 VM instructions, and the limit.
local here = debug.getinfo(1, "S").source:match("^@(.*)memory_probe%.lua$") or "./"
package.path = here .. "?.lua;" .. package.path
local F = require "fake_hindsight"
local hpb = require "stacklight.heka_protobuf"

local series = tonumber(arg[1]) or 3000
local messages = tonumber(arg[2]) or 40000
local batch_max_bytes = tonumber(arg[3]) or F.default_cfg.batch_max_bytes
local ROTATION = 1000

local function message(i, value, timestamp)
    return F.snap_message({
        name = "intel.procfs.filesystem.space_percent_free",
        value = value,
        dynamic = { { "filesystem", "/var/lib/kubelet/pods/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/volumes/"
            .. "kubernetes.io~projected/kube-api-access-" .. i } },
        tags = { { "hostname", "node-" .. (i % 7) } },
        timestamp = timestamp,
    })
end

-- head of each series (everything before the value field), value fields, timestamp fields
local view = hpb.new()
local function split(raw)
    assert(view:decode(raw))
    local value_at, time_at = view.estart[view.n - 1], view.estart[view.n]
    return raw:sub(1, value_at - 1), raw:sub(value_at, time_at - 1), raw:sub(time_at)
end
local heads, values = {}, {}
for s = 1, series do heads[s] = split(message(s, 1.5, "1700000000000000000")) end
for k = 1, ROTATION do
    local _, v = split(message(1, k / 7.3, "1700000000000000000"))
    values[k] = v
end
-- The timestamp field ends with the 9-byte varint of its value: bytes 4 to 6 of it (bits 21 to
-- 41, units of about 2 ms) are replaced by a counter, so every message has a time of its own.
local _, _, time_field = split(message(1, 1.5, "1700000000000000000"))
assert(time_field:byte(-10) == 9, "a 9-byte timestamp varint expected")
local time_head, varint_low, varint_high = time_field:sub(1, -10), time_field:sub(-9, -7), time_field:sub(-3)
local char, floor = string.char, math.floor
view = nil

collectgarbage("collect")
local before = collectgarbage("count")
local hs = F.hindsight({ cfg = { ticker_interval = 0, batch_max_bytes = batch_max_bytes } })
assert(not hs.load_error, hs.load_error)
local pm = hs.env.process_message
hs.http.forget = true
local peak = before
debug.sethook(function()
    local now = collectgarbage("count")
    if now > peak then peak = now end
end, "", 1000)
local committed = 0
for i = 1, messages do
    hs.msg = heads[(i - 1) % series + 1] .. values[(i * 7) % ROTATION + 1] .. time_head .. varint_low
        .. char(128 + i % 128, 128 + floor(i / 128) % 128, 128 + floor(i / 16384) % 128) .. varint_high
    local r = pm()
    if r == 0 then committed = i end
    if r == -3 then error("the plugin asked for a retry") end
end
debug.sethook()
hs.msg = nil
-- a peak is only worth something if the plugin did the work: every batch but the last written
if committed < messages - F.default_cfg.batch_max_points then error("the plugin committed only " .. committed) end
print(string.format('{"series":%d,"messages":%d,"committed":%d,"peak_kib":%.0f,"limit_kib":%.0f}',
    series, messages, committed, peak - before, F.default_cfg.memory_limit / 1024))
