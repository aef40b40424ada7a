-- Test support (not deployed): a stand-in for the lua_sandbox output API (read_config,
-- read_message, decode_message, update_checkpoint, print), a fake socket.http and a driver that
-- calls process_message/timer_event the way Hindsight 0.16's output loop does
-- (src/hs_output_plugins.c: checkpoint, batching flag, -3 retry loop, ticker, shutdown).
--
-- The plugin is loaded with loadfile + setfenv into the globals of the test stage's sandbox
-- (test/support/hindsight-stage/lib/sandbox.lua); its `require`, and its modules', return the
-- fakes for socket, socket.http and os (getenv), the sandbox's modules otherwise. With
-- hindsight({ real_http = true, cfg = { influxdb_url = ... } }) it talks to a real InfluxDB
-- (by test/bench/plugin-influxdb.bench.lua and by hand against influxd 1.6; not by the specs).
--
-- Heka messages are built by the test stage's encoder (test/support/hindsight-stage/lib/
-- heka_encoder.lua) and read_message/decode_message are the stage's transcription of
-- lua_sandbox's (lib/heka.lua, on the product's protobuf primitives): one codec for all the Lua
-- tests.

local M = {}

-- Make `require "stacklight.*"` resolve to lua/modules, and the stage's lib/ to its modules,
-- wherever busted runs from.
local here = debug.getinfo(1, "S").source:match("^@(.*)fake_hindsight%.lua$") or "./"
M.root = here .. "../../"
for _, template in ipairs({ M.root .. "lua/modules/?.lua", M.root .. "test/support/hindsight-stage/lib/?.lua" }) do
    if not package.path:find(template, 1, true) then
        package.path = template .. ";" .. package.path
    end
end
M.plugin_path = M.root .. "lua/output/influxdb_out.lua"

local encoder = require "heka_encoder"
local sandbox = require "sandbox"
local output_loop = require "output_loop"

-- The stage's decoder, loaded when first needed: the plugin reads only "raw", and
-- memory_probe.lua wants as little besides the plugin in its Lua state as it can have.
local function heka() return require "heka" end

local floor = math.floor

-- Messages --------------------------------------------------------------------------------------

M.encoder = encoder -- varint, double_bytes, encode_message, frame

--- Encodes a Heka message table (array-based Fields) to its protobuf string.
--- Timestamp may be a number or a decimal string (exact ns).
M.encode_message = encoder.encode_message

--- A message exactly as snap-plugin-publisher-heka sends it (reference section 5; Go's
--- message.NewField sets representation "" on every field, and it is on the wire).
--- spec: name, value, value_type (2 INTEGER, 3 DOUBLE, 0 STRING, 4 BOOL), dynamic = {{k, v}...},
--- tags = {{k, v}...} (plugin_running_on is added), timestamp (collection ns), published (ns)
function M.snap_message(spec)
    local fields = {}
    local dims = {}
    for _, kv in ipairs(spec.dynamic or {}) do
        fields[#fields + 1] = { name = kv[1], value = kv[2], value_type = 0 }
        dims[#dims + 1] = kv[1]
    end
    local tags = spec.tags or { { "hostname", "node-1" } }
    for _, kv in ipairs(tags) do
        fields[#fields + 1] = { name = kv[1], value = kv[2], value_type = 0 }
        dims[#dims + 1] = kv[1]
    end
    if not spec.no_plugin_running_on then
        fields[#fields + 1] = { name = "plugin_running_on", value = "snap-pod-abc", value_type = 0 }
        dims[#dims + 1] = "plugin_running_on"
    end
    fields[#fields + 1] = { name = "dimensions", value = dims, value_type = 0 }
    fields[#fields + 1] = { name = "name", value = spec.name or "intel.procfs.cpu.user_percentage", value_type = 0 }
    if spec.value ~= nil or spec.value_type then
        fields[#fields + 1] = { name = "value", value = spec.value, value_type = spec.value_type or 3 }
    end
    fields[#fields + 1] = { name = "timestamp", value = spec.timestamp or "1700000000123456789", value_type = 2 }
    for _, f in ipairs(fields) do
        if f.representation == nil and not spec.no_representation then f.representation = "" end
    end
    return encoder.encode_message({
        Timestamp = spec.published or "1700000001000000000",
        Type = "snap.heka", Logger = "snap.heka.logger", Severity = 6,
        Payload = '{"namespace":"/intel/procfs/cpu/0/user_percentage","data":1}',
        Pid = 4242, Hostname = "snap-pod-abc", Fields = fields,
    })
end

--- lua_sandbox's decode_message (the stage's): array-based Fields, values always arrays; raises
--- on what lua_sandbox refuses.
function M.decode_message(s) return heka().decode_message(s) end

--- lua_sandbox's read_message for the message raw (nil outside process_message). "raw" is the
--- bytes as given, also those lua_sandbox would have refused before the plugin saw them (the
--- specs offer such bytes on purpose); anything else is read from the stage's decoding of raw.
function M.read_message(raw, var, fi, ai)
    if raw ~= nil and var == "raw" then return raw end
    local h = heka()
    return h.read_message(raw and h.decode(raw), var, fi, ai)
end

-- Fake socket.http -------------------------------------------------------------------------------

--- handler(request) -> status, body | nil, "error"; request = {url, method, headers, body}
function M.fake_http(handler, clock)
    local h = { TIMEOUT = 60, requests = {} }
    function h.request(reqt)
        assert(type(reqt) == "table", "table form expected")
        local chunks = {}
        if reqt.source then
            while true do
                local c = reqt.source()
                if c == nil then break end
                -- forgetting (the benchmark's replay): sent, not kept, as a socket would
                if not h.forget then chunks[#chunks + 1] = c end
            end
        end
        local req = {
            url = reqt.url, method = reqt.method, headers = {}, body = table.concat(chunks),
            timeout = h.TIMEOUT, time = clock and clock.now,
        }
        for k, v in pairs(reqt.headers or {}) do req.headers[k:lower()] = v end
        if not h.forget then h.requests[#h.requests + 1] = req end
        local status, body = handler(req)
        if clock then clock.now = clock.now + (req.latency or 0.004) end
        if status == nil then return nil, body end
        if reqt.sink and body then
            reqt.sink(body)
            reqt.sink(nil)
        end
        return 1, status, {}, "HTTP/1.1 " .. status
    end
    return h
end

--- The real socket.http, recording what each request carried without keeping its body: the
--- lines it held and how it starts (a benchmark runs through here; joining the chunks would cost
--- more than the plugin's own send).
function M.recording_http(clock)
    local real = require "socket.http"
    local proxy = { requests = {} }
    function proxy.request(reqt)
        local req = { url = reqt.url, lines = 0, head = nil, time = clock.now }
        local source = reqt.source
        reqt.source = function()
            local chunk = source()
            if chunk then
                req.head = req.head or chunk:sub(1, 64)
                req.lines = req.lines + select(2, chunk:gsub("\n", "\n"))
            end
            return chunk
        end
        proxy.requests[#proxy.requests + 1] = req
        local r, code, h, status = real.request(reqt)
        req.status = code
        req.accepted = r ~= nil and code == 204
        if req.head then req.lines = req.lines + 1 end -- the last line has no "\n"
        return r, code, h, status
    end
    return setmetatable(proxy, { __index = real, __newindex = real })
end

--- The messages of a file of "<length>\n<bytes>" records (written by test/bench/pipeline.bench.ts).
function M.read_records(path)
    local file = assert(io.open(path, "rb"))
    local data = file:read("*a")
    file:close()
    local records, pos = {}, 1
    while pos <= #data do
        local length, body = data:match("^(%d+)\n()", pos)
        assert(length, "not a record at byte " .. pos)
        records[#records + 1] = data:sub(body, body + tonumber(length) - 1)
        pos = body + tonumber(length)
    end
    return records
end

--- Parses a line-protocol body into its lines.
function M.lines(body)
    local t = {}
    for line in (body .. "\n"):gmatch("(.-)\n") do
        if line ~= "" then t[#t + 1] = line end
    end
    return t
end

-- Sandbox and Hindsight driver -------------------------------------------------------------------

local function deep_copy(v)
    if type(v) ~= "table" then return v end
    local t = {}
    for k, x in pairs(v) do t[k] = deep_copy(x) end
    return t
end

M.default_cfg = {
    filename = "influxdb_out.lua",
    message_matcher = "Type == 'snap.heka' || Type == 'stacklight.metric'",
    ticker_interval = 5,
    memory_limit = 8 * 1024 * 1024,
    instruction_limit = 1000000,
    output_limit = 64 * 1024,
    influxdb_url = "http://influxdb.monitoring.svc:8086",
    database = "stacklight",
    retention_policy = "stacklight",
    username = "hindsight",
    password_env = "INFLUXDB_PASSWORD",
    precision = "ms",
    batch_max_points = 5000,
    batch_max_bytes = 512 * 1024,
    timeout = 5,
    static_tags = { cluster = "dev", environment = "dev" },
    excluded_tags = { "plugin_running_on" },
    Logger = "output.influxdb",
    Hostname = "node-1",
}

--- A fresh fake sandbox: the stage's lua_sandbox globals and require (test/support/hindsight-stage/
--- lib/sandbox.lua), the modules loading from lua/modules into these globals, with these changes:
--- `require` gives the plugin and its modules a fake socket (gettime = the clock), socket.http
--- (opts.handler answers; the real one with opts.real_http) and os (getenv = opts.env_vars);
--- read_config gives fresh copies of opts.cfg's values; print goes to logs; no limits.
--- Returns env, http, clock, logs (a spec loads a module with env.require(name)).
function M.sandbox(opts)
    opts = opts or {}
    local cfg = opts.cfg or {}
    local clock = opts.clock or { now = opts.start or 1700000100.25 }
    local http = M.fake_http(opts.handler or function(req)
        req.accepted = true
        return 204, ""
    end, clock)
    local env_vars = opts.env_vars or { INFLUXDB_PASSWORD = "s3cret-pw" }
    local fake_os = setmetatable({ getenv = function(k) return env_vars[k] end }, { __index = os })
    local fakes = { socket = { gettime = function() return clock.now end }, ["socket.http"] = http, os = fake_os }
    if opts.real_http then -- talk to a real InfluxDB (manual end-to-end checks)
        http = M.recording_http(clock)
        fakes.socket, fakes["socket.http"] = require "socket", http
    end
    local sb = sandbox.new({ name = cfg.Logger, config = cfg, path = M.root .. "lua/modules/?.lua" })
    local env, logs = sb.env, {}
    env.require = function(name)
        local mod = fakes[name] or sb:require(name) -- not a tail call: sb:require's error levels
        return mod
    end
    env.read_config = function(k) return deep_copy(cfg[k]) end
    env.print = function(...)
        local t = {}
        for i = 1, select("#", ...) do t[i] = tostring((select(i, ...))) end
        logs[#logs + 1] = table.concat(t, "\t")
    end
    return env, http, clock, logs
end

--- Loads the output plugin in a fresh fake sandbox (M.sandbox).
--- opts: cfg (overrides of default_cfg; false removes a key), env_vars, handler (HTTP), start (s),
--- real_http. Returns a Hindsight driver: hs.env (plugin globals), hs.http, hs.clock, hs.logs, hs.cp ...
function M.hindsight(opts)
    opts = opts or {}
    local cfg = deep_copy(M.default_cfg)
    for k, v in pairs(opts.cfg or {}) do
        if v == false then cfg[k] = nil else cfg[k] = v end
    end
    local env, http, clock, logs = M.sandbox({
        cfg = cfg, env_vars = opts.env_vars, handler = opts.handler, start = opts.start, real_http = opts.real_http,
    })
    local hs = {
        env = env, http = http, clock = clock, cfg = cfg, logs = logs, statuses = {}, status_messages = {},
        messages = {}, cur = 0, cp = 0, failures = 0, msg = nil, max_requests_per_call = 0,
        ticker_interval = cfg.ticker_interval or 0,
    }
    -- Hindsight's output loop (test/support/hindsight-stage/lib/output_loop.lua, as the stage's)
    local loop = output_loop.new({ ticker_interval = hs.ticker_interval, ticker_expires = clock.now + hs.ticker_interval })
    hs.loop = loop
    local function commit() hs.cp = hs.cur end
    env.read_message = function(var, fi, ai) return M.read_message(hs.msg, var, fi, ai) end
    env.decode_message = function(s) return M.decode_message(s) end
    env.update_checkpoint = function(...)
        assert(select("#", ...) == 0, "batch mode update_checkpoint takes no argument")
        loop:update_checkpoint(commit)
    end
    hs.new_globals = {}
    setmetatable(env, { __newindex = function(t, k, v)
        hs.new_globals[#hs.new_globals + 1] = k
        rawset(t, k, v)
    end })

    local chunk = assert(loadfile(M.plugin_path))
    setfenv(chunk, env)
    local ok, err = pcall(chunk)
    if not ok then
        hs.load_error = err
        return hs
    end

    -- What the loop calls: the plugin's functions, with lua_sandbox's checks as assertions (the
    -- specs expect a plugin that is never terminated), and the records the specs read.
    local hooks = {
        process_message = function(raw)
            hs.msg = raw
            local before = #hs.http.requests
            local pok, r, m = pcall(env.process_message)
            hs.max_requests_per_call = math.max(hs.max_requests_per_call, #hs.http.requests - before)
            hs.msg = nil
            if not pok then error("process_message raised (the plugin would be terminated): " .. tostring(r)) end
            assert(type(r) == "number", "process_message must return a number")
            assert(m == nil or type(m) == "string", "the status message must be a string")
            assert(r <= 0, "process_message returned a fatal status " .. r)
            hs.statuses[#hs.statuses + 1] = r
            hs.last_status_message = m
            hs.status_messages[#hs.statuses] = m
            if r == -1 then hs.failures = hs.failures + 1 end
            return r
        end,
        timer_event = function(t)
            local before = #hs.http.requests
            local tok, terr = pcall(env.timer_event, t * 1e9, false)
            if not tok then error("timer_event raised (the plugin would be terminated): " .. tostring(terr)) end
            hs.max_requests_per_call = math.max(hs.max_requests_per_call, #hs.http.requests - before)
            return 0
        end,
        commit = commit,
        terminate = function(reason) error(reason) end,
    }

    --- hs_output_plugins.c output_message(): one call for a message (raw) or an idle tick (nil).
    function hs.output_message(raw)
        return loop:output_message(raw, clock.now, hooks)
    end

    --- The benchmark's driver: offers raws[1..#raws] cyclically, count messages in all, with
    --- output_message's handling of the return codes (batching flag, checkpoint, -3 re-offer,
    --- ticker) but none of the records the specs read (statuses, request bodies), so that what
    --- it measures is the plugin plus what Hindsight's C loop does: output_loop's logic inlined
    --- (a Lua call and its hooks per message would be counted as the plugin's cost). Returns the
    --- -3 count.
    function hs.replay(raws, count)
        local pm, n_raws, retries = env.process_message, #raws, 0
        hs.http.forget = true
        for i = 1, count do
            hs.msg = raws[(i - 1) % n_raws + 1]
            local r = pm()
            while r == -3 do
                retries = retries + 1
                clock.now = clock.now + 1
                r = pm()
            end
            if r == 0 then loop.batching = false elseif r == -4 then loop.batching = true end
            if r <= 0 and not loop.batching then hs.cp = i end
            if loop.ticker_interval > 0 and clock.now >= loop.ticker_expires then
                env.timer_event(floor(clock.now) * 1e9, false)
                loop.ticker_expires = clock.now + loop.ticker_interval
            end
        end
        hs.msg = nil
        hs.http.forget = false
        return retries
    end

    --- Offers the next queued message, retrying every second while the plugin returns -3.
    function hs.deliver(raw, max_retries)
        hs.messages[#hs.messages + 1] = raw
        hs.cur = #hs.messages
        local ret = hs.output_message(raw)
        local n = 0
        while ret == -3 do
            n = n + 1
            if n > (max_retries or 1000) then return ret, n end
            clock.now = clock.now + 1
            ret = hs.output_message(raw)
        end
        return ret, n
    end

    --- Idle: no message for `seconds` seconds (timer events fire).
    function hs.idle(seconds)
        local stop = clock.now + seconds
        while clock.now < stop do
            hs.output_message(nil)
            clock.now = clock.now + 1
        end
    end

    --- Clean stop: timer_event(ns, true), then the checkpoint Hindsight would save.
    function hs.stop()
        local tok, terr = pcall(env.timer_event, floor(clock.now) * 1e9, true)
        if not tok then error("timer_event raised on shutdown: " .. tostring(terr)) end
        return hs.cp
    end

    --- All lines of the requests answered with 2xx (or a partial write), in order.
    function hs.written_lines(filter)
        local out = {}
        for _, req in ipairs(hs.http.requests) do
            if req.accepted then
                for _, l in ipairs(M.lines(req.body)) do
                    if not filter or l:find(filter, 1, true) then out[#out + 1] = l end
                end
            end
        end
        return out
    end

    --- Requests carrying metrics (not the self-monitoring points).
    function hs.data_requests()
        local out = {}
        for _, req in ipairs(hs.http.requests) do
            if not req.body:find("^hindsight_output") then out[#out + 1] = req end
        end
        return out
    end

    --- The fields of the last self-monitoring point written (values as line-protocol strings),
    --- its tags, and the dropped counts by reason.
    function hs.last_stats()
        for k = #hs.http.requests, 1, -1 do
            local req = hs.http.requests[k]
            if req.body:find("^hindsight_output") then
                local lines = M.lines(req.body)
                local tags, fields = M.parse_line(lines[1])
                local dropped = {}
                for i = 2, #lines do
                    local t, f = M.parse_line(lines[i])
                    dropped[t.reason] = f.points
                end
                return fields, tags, dropped, lines
            end
        end
        return nil
    end

    return hs
end

--- Splits a line-protocol line (no escaped separators inside string values except \") into
--- its tags and fields.
function M.parse_line(line)
    local head, rest = line:match("^(%S+) (.*)$")
    local tags = {}
    for k, v in head:gmatch(",([^,=]+)=([^,]+)") do tags[k] = v end
    local fields = {}
    local fieldset = rest:match("^(.*) %d+$") or rest
    local pos = 1
    while pos <= #fieldset do
        local k, eq = fieldset:match("^([^=]+)=()", pos)
        if not k then break end
        local v, nextpos
        if fieldset:sub(eq, eq) == '"' then
            local e = eq + 1
            while true do
                local c = fieldset:sub(e, e)
                if c == "\\" then e = e + 2
                elseif c == '"' or c == "" then break
                else e = e + 1 end
            end
            v, nextpos = fieldset:sub(eq, e), e + 2
        else
            local e = fieldset:find(",", eq, true) or (#fieldset + 1)
            v, nextpos = fieldset:sub(eq, e - 1), e + 1
        end
        fields[k] = v
        pos = nextpos
    end
    return tags, fields
end

--- A handler answering from a list of responses (then 204), marking accepted requests.
function M.responses(list)
    local i = 0
    return function(req)
        i = i + 1
        local r = list[i]
        if r == nil then
            req.accepted = true
            return 204, ""
        end
        if type(r) == "function" then return r(req) end
        if r[1] and r[1] >= 200 and r[1] < 300 then req.accepted = true end
        if r[1] == 400 and r[2] and r[2]:find("partial write", 1, true) then req.accepted = true end
        return r[1], r[2]
    end
end

return M
