-- This Source Code Form is part of ms-stacklight.
--[[
# InfluxDB 1.x output (Hindsight 0.16 / lua_sandbox 1.4, Lua 5.1)

Batches metric messages as InfluxDB line protocol and writes them with `POST /write`.

## Input
Messages of Type `snap.heka` (Snap's Heka publisher) and `stacklight.metric` (analysis
plugins); see lua/modules/stacklight/heka_metric.lua for both conventions. The raw protobuf
(`read_message("raw")`) is decoded by stacklight.heka_protobuf so that nanosecond timestamps
and int64 values stay exact and INTEGER/DOUBLE value types are kept.
Suggested matcher (emitted by the compiler): `Type == 'snap.heka' || Type == 'stacklight.metric'`.

## Configuration (read once at load; keys of InfluxdbOutputCfg in compiler/collector/hindsight.ts)
    influxdb_url      = "http://influxdb:8086"  -- required; no trailing slash needed
    database          = "stacklight"            -- required
    retention_policy  = "stacklight"            -- "" or nil: the database's default
    precision         = "ms"                    -- ns | u | ms | s (default ms)
    username          = "hindsight"             -- "" or nil: no authentication
    password_env      = "INFLUXDB_PASSWORD"     -- environment variable holding the password
    password_file     = nil                     -- or a file holding it (a mounted Secret); wins
                                                -- over password_env. A `password` key is refused.
    batch_max_points  = 5000                    -- flush when this many points are batched...
    batch_max_bytes   = 524288                  -- ...or this many bytes (capped at memory_limit/16)
    ticker_interval   = 5                       -- ...or every ticker_interval seconds (timer_event)
    timeout           = 5                       -- seconds per socket operation (LuaSocket's is 60)
    static_tags       = { cluster = "prod" }    -- added to every point (win over message tags)
    excluded_tags     = { "plugin_running_on" } -- message tags not written
    max_retry_backoff = 30                      -- NEW, optional: longest delay between retries (s)
    memory_limit, instruction_limit, output_limit -- sandbox limits, usually from hindsight.cfg's
                                                  -- output_defaults (memory_limit caps the batch)

## Delivery
- process_message returns -4 while batching; when a batch is full it is written and 0 is
  returned only after InfluxDB answered 2xx (timer_event commits with update_checkpoint()).
- Network errors, timeouts, 5xx, 404 (database not found), 401/403 (auth), 408, 429 and any
  answer that does not come from InfluxDB keep the whole batch; it is retried with an
  exponential back-off (1 s doubling up to max_retry_backoff): while the batch is full
  process_message returns -3 (Hindsight re-offers the same message, already batched, about every
  second, without a request until the back-off expires) and Hindsight's queue keeps the backlog.
  Nothing is dropped. While InfluxDB does not answer at all (down, restarting), the plugin asks
  GET /ping at most once a second (a refused connection is no request) and retries at once
  when it answers, so a backlog does not wait out the back-off; an InfluxDB that answers with
  an error keeps the back-off.
- 400 "partial write" (field type conflict, points beyond the retention policy, unparsable
  lines...): InfluxDB 1.x already wrote the good points, so the batch is committed and only the
  rejected points (dropped=N plus the "unable to parse" lines) are counted as dropped.
  400 "unable to parse" with no partial write: every point of the request was unparsable.
  Any other 400 from InfluxDB, and 413: the request is split in halves, retried at once (writes
  are idempotent), down to single points; a single point still refused is dropped and counted.
- A flush from process_message that dropped points returns -1 with InfluxDB's message after
  committing, so Hindsight logs it as a warning. print() goes to Hindsight's log only at
  log_level 7; the self-monitoring points below carry last_error in any case.
- process_message flushes only batches of at least two points, so Hindsight's batching flag is
  set and a -3 never moves the checkpoint past a point that is not written.
- Bad messages (undecodable, no name/value, unsupported value) are skipped (-2, or -1 with a
  reason at most once a minute) and counted; the plugin never raises on bad input.

## Self-monitoring
Written in a request of their own by every timer_event (every ticker_interval seconds, the
time-based flush), right after the batch was written; not while InfluxDB is failing (the gap in
the series is the outage; the counters then tell what happened). Counters are cumulative since
the plugin started, gauges are marked. Tags: static_tags, hostname (Hindsight's Hostname: the
node, with hostNetwork), plugin (the plugin's Logger, e.g. output.influxdb).
measurement `hindsight_output`, fields:
    messages_batched   i  points added to batches (messages turned into points)
    points_written     i  points InfluxDB accepted
    points_dropped     i  all dropped points/values (sum of hindsight_output_dropped)
    requests           i  write requests sent (data only)
    request_failures   i  write requests that did not end in 2xx
    retries            i  failed flush attempts kept for a retry (network, 5xx, 404, 401/403...)
    auth_failures      i  401/403 answers
    partial_writes     i  400 answers that dropped points
    type_conflicts     i  answers reporting a field type conflict
    splits             i  requests split in halves to isolate refused points
    batch_latency_ms      duration of the last successful write request (float, gauge)
    last_batch_points  i  points in the last successful write request (gauge)
    backlog_points     i  points held in memory, not yet written (gauge)
    backoff_seconds       current retry delay, 0 when healthy (float, gauge)
    last_status        i  HTTP status of the last write request, 0 = no answer (gauge)
    last_error            last error text, "" if none yet (string, gauge)
    last_error_time    i  unix time of last_error, 0 if none (gauge)
measurement `hindsight_output_dropped`, tag `reason`, field `points` i:
    reason=nan_inf               NaN/Inf values skipped (one per value)
    reason=rejected_by_influxdb  points InfluxDB refused (partial writes, unparsable, split leaves)
    reason=bad_message           messages that could not be turned into a point
--]]

local string = require "string"
local table = require "table"
local math = require "math"
local os = require "os"
local io = require "io"
local socket = require "socket"
local http = require "socket.http"
local cjson = require "cjson"
local lp = require "stacklight.line_protocol"
local hpb = require "stacklight.heka_protobuf"
local hm = require "stacklight.heka_metric"

local byte, sub, find, gsub, format, match = string.byte, string.sub, string.find, string.gsub, string.format, string.match
local concat = table.concat
local floor, min = math.floor, math.min
local type, tostring, tonumber, pairs, ipairs, pcall = type, tostring, tonumber, pairs, ipairs, pcall
local gettime = socket.gettime
local read_message, update_checkpoint = read_message, update_checkpoint
local log = print or function() end

-- Configuration ------------------------------------------------------------------------------

local function cfg(key, default)
    local v = read_config(key)
    if v == nil then return default end
    return v
end

local function cfg_number(key, default, minimum)
    local v = cfg(key, default)
    if type(v) ~= "number" or v ~= v or v < minimum then
        error(format("%s must be a number >= %s, got %s", key, tostring(minimum), tostring(v)))
    end
    return v
end

local function cfg_string(key, default, required)
    local v = cfg(key, default)
    if v == nil or (required and v == "") then error(key .. " must be set") end
    if type(v) ~= "string" then error(key .. " must be a string") end
    return v
end

local influxdb_url = gsub(cfg_string("influxdb_url", nil, true), "/+$", "")
local database = cfg_string("database", nil, true)
local retention_policy = cfg_string("retention_policy", "")
local precision = cfg_string("precision", "ms")
if not hm.DIVISORS[precision] then error("precision must be one of ns, u, ms, s; got " .. precision) end
local batch_max_points = floor(cfg_number("batch_max_points", 5000, 1))
local batch_max_bytes = floor(cfg_number("batch_max_bytes", 524288, 1))
local memory_limit = cfg_number("memory_limit", 8388608, 0)
-- lua_sandbox refuses any allocation past memory_limit, garbage included (Lua 5.1 has no
-- emergency collection), and the plugin is terminated. The heap peaks at three to four times
-- what is live (Lua 5.1's collector lets garbage grow to the live size before a cycle, and more
-- is allocated during it), and what is live at a flush is the batch's lines, the chunk of the
-- request body being sent and the series cache: hence a sixteenth for the batch and a
-- sixty-fourth for each of the cache's two generations (compiler/config/validate.ts refuses
-- configs beyond the first; test/lua/memory_probe.lua measures the peak).
if memory_limit > 0 and batch_max_bytes > memory_limit / 16 then
    batch_max_bytes = floor(memory_limit / 16)
end
local cache_bytes = memory_limit > 0 and floor(memory_limit / 64) or nil
local timeout = cfg_number("timeout", 5, 0.001)
local max_retry_backoff = cfg_number("max_retry_backoff", 30, 1)
local static_tags = cfg("static_tags", {})
if type(static_tags) ~= "table" then error("static_tags must be a table") end
local excluded_tags = cfg("excluded_tags", { "plugin_running_on" })
if type(excluded_tags) ~= "table" then error("excluded_tags must be an array of tag names") end
local hostname = cfg("Hostname", "")
if type(hostname) ~= "string" or hostname == "" then hostname = "unknown" end
local plugin_name = cfg("Logger", "output.influxdb")
if type(plugin_name) ~= "string" then plugin_name = "output.influxdb" end

-- Authentication: never from the cfg itself.
if read_config("password") ~= nil then
    error("password must not be set in the cfg: use password_env or password_file")
end
local username = cfg_string("username", "")
local password_env = cfg_string("password_env", "")
local password_file = cfg_string("password_file", "")

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
    local out = {}
    for i = 1, #s, 3 do
        local a, b, c = byte(s, i, i + 2)
        local v = a * 65536 + (b or 0) * 256 + (c or 0)
        local c1, c2, c3, c4 = floor(v / 262144) % 64, floor(v / 4096) % 64, floor(v / 64) % 64, v % 64
        out[#out + 1] = sub(B64, c1 + 1, c1 + 1) .. sub(B64, c2 + 1, c2 + 1)
            .. (b and sub(B64, c3 + 1, c3 + 1) or "=") .. (c and sub(B64, c4 + 1, c4 + 1) or "=")
    end
    return concat(out)
end

local function read_password()
    if password_file ~= "" then
        local fh, err = io.open(password_file, "rb")
        if not fh then return nil, "cannot read password_file: " .. tostring(err) end
        local s = fh:read("*a") or ""
        fh:close()
        s = gsub(s, "[\r\n]+$", "")
        if s == "" then return nil, "password_file " .. password_file .. " is empty" end
        return s
    elseif password_env ~= "" then
        local getenv = os.getenv
        if not getenv then return nil, "os.getenv is not available: use password_file" end
        local s = getenv(password_env)
        if not s or s == "" then return nil, "environment variable " .. password_env .. " is not set" end
        return s
    end
    return nil, "username is set but neither password_env nor password_file is"
end

local auth_header
local function load_credentials()
    if username == "" then return true end
    local password, err = read_password()
    if not password then return nil, err end
    auth_header = "Basic " .. base64(username .. ":" .. password)
    return true
end
do
    local ok, err = load_credentials()
    if not ok then error(err) end
end

local function urlencode(s)
    return (gsub(s, "[^%w%-%._~]", function(c) return format("%%%02X", byte(c)) end))
end

local write_url = influxdb_url .. "/write?db=" .. urlencode(database)
    .. (retention_policy ~= "" and ("&rp=" .. urlencode(retention_policy)) or "")
    .. "&precision=" .. precision

local ping_url = influxdb_url .. "/ping"

-- LuaSocket applies http.TIMEOUT to every socket operation of a request.
http.TIMEOUT = timeout
local PING_INTERVAL = 1
local PING_TIMEOUT = min(timeout, 1)

local MAX_REQUESTS_PER_CALL = 8   -- bounds the time and instructions of one call while splitting
local MAX_RESPONSE_BYTES = 65536
local BAD_MESSAGE_LOG_INTERVAL = 60

-- State ----------------------------------------------------------------------------------------

local view = hpb.new()
local converter = hm.new({
    precision = precision, excluded_tags = excluded_tags, static_tags = static_tags, cache_bytes = cache_bytes,
})
local stats_divisor = hm.DIVISORS[precision]

local batch = {}                  -- line-protocol lines
local batch_n, batch_bytes = 0, 0
local ranges_lo, ranges_hi, nranges = {}, {}, 0 -- requests still to send for this batch
local covered = 0                 -- lines 1..covered are in a range or already written
local pending = false             -- the message Hindsight re-offers after -3 is already batched
local backoff, next_attempt = 0, 0
local last_bad_log = -BAD_MESSAGE_LOG_INTERVAL

local stats = {
    messages_batched = 0, points_written = 0, requests = 0, request_failures = 0, retries = 0,
    auth_failures = 0, partial_writes = 0, type_conflicts = 0, splits = 0,
    batch_latency_ms = 0, last_batch_points = 0, last_status = 0, last_error = "", last_error_time = 0,
}
local dropped = { nan_inf = 0, rejected_by_influxdb = 0, bad_message = 0 }
local DROP_REASONS = { "bad_message", "nan_inf", "rejected_by_influxdb" }

local function note_error(msg)
    msg = gsub(msg, "[%c]", " ")
    if #msg > 512 then msg = sub(msg, 1, 509) .. "..." end
    stats.last_error = msg
    stats.last_error_time = floor(gettime())
    return msg
end

-- HTTP -----------------------------------------------------------------------------------------

local request_headers = { ["content-type"] = "text/plain; charset=utf-8" }

-- Lines per chunk of a request body.
local BODY_CHUNK_LINES = 256

-- The body of lines[lo..hi] joined by "\n", handed to LuaSocket a few hundred lines at a time:
-- built as one string, table.concat would make it through ever longer partial strings, garbage
-- of several times the body's size inside the sandbox's memory_limit.
local function body_source(lines, lo, hi)
    local next_line, separator = lo, false
    return function()
        if separator then
            separator = false
            return "\n"
        end
        if next_line > hi then return nil end
        local last = min(next_line + BODY_CHUNK_LINES - 1, hi)
        local chunk = concat(lines, "\n", next_line, last)
        next_line = last + 1
        separator = next_line <= hi
        return chunk
    end
end

local function body_length(lines, lo, hi)
    local n = hi - lo
    for k = lo, hi do n = n + #lines[k] end
    return n
end

-- POSTs lines[lo..hi] to /write. Returns status (nil when there is no answer), error, response
-- text, ms.
local function post(lines, lo, hi)
    local resp, resp_bytes, resp_n = {}, 0, 0
    request_headers["content-length"] = tostring(body_length(lines, lo, hi))
    request_headers["authorization"] = auth_header
    local t0 = gettime()
    local ok, r, code = pcall(http.request, {
        url = write_url,
        method = "POST",
        headers = request_headers,
        source = body_source(lines, lo, hi),
        sink = function(chunk)
            if chunk and resp_bytes < MAX_RESPONSE_BYTES then
                resp_n = resp_n + 1
                resp[resp_n] = chunk
                resp_bytes = resp_bytes + #chunk
            end
            return 1
        end,
    })
    local elapsed = (gettime() - t0) * 1000
    if not ok then return nil, tostring(r), "", elapsed end
    if not r then return nil, tostring(code), "", elapsed end
    return tonumber(code), nil, concat(resp, "", 1, resp_n), elapsed
end

-- InfluxDB answers errors as {"error":"..."}; returns the message, and whether it was that JSON.
local function influx_error(body)
    if body and find(body, '"error"', 1, true) then
        local ok, t = pcall(cjson.decode, body)
        if ok and type(t) == "table" and type(t.error) == "string" then return t.error, true end
        local m = match(body, '"error"%s*:%s*"(.*)"')
        if m then return m, true end -- truncated JSON
    end
    return body or "", false
end

-- Decides what to do with an answer to a request of n points:
-- "ok" | "committed" (partial write) | "reject_all" | "split" | "retry", rejected, message
local function classify(code, err, body, n)
    if not code then return "retry", 0, "no answer from InfluxDB: " .. tostring(err) end
    if code >= 200 and code < 300 then return "ok", 0, nil end
    local text, from_influx = influx_error(body)
    if find(text, "field type conflict", 1, true) then stats.type_conflicts = stats.type_conflicts + 1 end
    local msg = format("HTTP %d: %s", code, text)
    if code == 400 and from_influx then
        if find(text, "partial write", 1, true) then
            local rejected = tonumber(match(text, "dropped=(%d+)")) or 0
            local _, unparsable = gsub(text, "unable to parse", "")
            rejected = rejected + unparsable
            if rejected < 1 then rejected = 1 end
            if rejected > n then rejected = n end
            return "committed", rejected, msg
        elseif find(text, "unable to parse", 1, true) then
            return "reject_all", n, msg
        end
        return "split", 0, msg
    elseif code == 413 then
        return "split", 0, msg
    elseif code == 401 or code == 403 then
        stats.auth_failures = stats.auth_failures + 1
        return "retry", 0, msg .. " (check username and password)"
    elseif code == 404 then
        return "retry", 0, msg .. " (does database " .. database .. " exist?)"
    end
    return "retry", 0, msg
end

-- unreachable: the last failure had no HTTP answer at all, so a /ping can tell when it is back
local unreachable, next_ping = false, 0

local function schedule_retry(now, msg, answered)
    if backoff == 0 then backoff = 1 else backoff = min(backoff * 2, max_retry_backoff) end
    next_attempt = now + backoff
    unreachable, next_ping = not answered, now + PING_INTERVAL
    log(format("%s: %s; retry in %gs", plugin_name, msg, backoff))
end

local function healthy()
    if backoff > 0 then log(plugin_name .. ": InfluxDB writes recovered") end
    backoff, next_attempt, unreachable = 0, 0, false
end

local function answers_ping()
    http.TIMEOUT = PING_TIMEOUT
    local ok, r, code = pcall(http.request, { url = ping_url, method = "GET", sink = function() return 1 end })
    http.TIMEOUT = timeout
    return ok and r ~= nil and code ~= nil
end

-- Whether a write may be tried now: the back-off is over, or an unreachable InfluxDB answers again.
local function due(now)
    if now >= next_attempt then return true end
    if not unreachable or now < next_ping then return false end
    next_ping = now + PING_INTERVAL
    if not answers_ping() then return false end
    log(plugin_name .. ": InfluxDB answers again; retrying now")
    next_attempt, unreachable = now, false
    return true
end

local function reset_batch()
    batch = {}
    batch_n, batch_bytes, nranges, covered = 0, 0, 0, 0
end

-- Writes the batch. Returns true when every point is settled (written, or rejected by
-- InfluxDB), plus a message when points were rejected; false when it must be retried.
local function flush(budget)
    if batch_n == 0 then return true end
    if batch_n > covered then -- lines batched since the requests were planned
        nranges = nranges + 1
        ranges_lo[nranges], ranges_hi[nranges] = covered + 1, batch_n
        covered = batch_n
    end
    local report
    for _ = 1, budget do
        if nranges == 0 then break end
        local lo, hi = ranges_lo[nranges], ranges_hi[nranges]
        local n = hi - lo + 1
        local code, err, body, elapsed = post(batch, lo, hi)
        stats.requests = stats.requests + 1
        stats.last_status = code or 0
        local action, rejected, msg = classify(code, err, body, n)
        if action == "split" and n == 1 then action, rejected = "reject_all", 1 end
        if action ~= "ok" then stats.request_failures = stats.request_failures + 1 end
        if action == "retry" then
            if nranges == 1 and lo == 1 and hi == covered then -- the whole batch, not splitting:
                -- forget the plan, so that the retry also takes the lines batched meanwhile
                nranges, covered = 0, 0
            end
            stats.retries = stats.retries + 1
            if code == 401 or code == 403 then load_credentials() end -- a rotated Secret
            schedule_retry(gettime(), note_error(msg), code ~= nil)
            return false
        end
        healthy()
        if action == "split" then
            local mid = floor((lo + hi) / 2)
            ranges_lo[nranges], ranges_hi[nranges] = mid + 1, hi
            nranges = nranges + 1
            ranges_lo[nranges], ranges_hi[nranges] = lo, mid
            stats.splits = stats.splits + 1
            log(format("%s: %s; splitting %d points", plugin_name, note_error(msg), n))
        else
            nranges = nranges - 1
            stats.points_written = stats.points_written + n - rejected
            stats.batch_latency_ms = elapsed
            stats.last_batch_points = n
            if rejected > 0 then
                dropped.rejected_by_influxdb = dropped.rejected_by_influxdb + rejected
                if action == "committed" then stats.partial_writes = stats.partial_writes + 1 end
                report = format("InfluxDB rejected %d of %d points: %s", rejected, n, note_error(msg))
                log(plugin_name .. ": " .. report)
            end
        end
    end
    if nranges > 0 then return false end -- still splitting: continue on the next call
    reset_batch()
    return true, report
end

-- Self-monitoring ------------------------------------------------------------------------------

local STAT_KINDS = {
    messages_batched = "integer", points_written = "integer", points_dropped = "integer",
    requests = "integer", request_failures = "integer", retries = "integer",
    auth_failures = "integer", partial_writes = "integer", type_conflicts = "integer",
    splits = "integer", batch_latency_ms = "float", last_batch_points = "integer",
    backlog_points = "integer", backoff_seconds = "float", last_status = "integer",
    last_error = "string", last_error_time = "integer", points = "integer",
}

local stat_tags = {}
for k, v in pairs(static_tags) do stat_tags[k] = v end
stat_tags.hostname = hostname
stat_tags.plugin = plugin_name

local function stats_lines(now)
    local ts = format("%.0f", floor(now * (1e9 / stats_divisor)))
    local total = 0
    for _, reason in ipairs(DROP_REASONS) do total = total + dropped[reason] end
    local fields = {}
    for k, v in pairs(stats) do fields[k] = v end
    fields.points_dropped = total
    fields.backlog_points = batch_n
    fields.backoff_seconds = backoff
    local lines = {}
    lines[#lines + 1] = lp.encode("hindsight_output", stat_tags, fields, ts, STAT_KINDS)
    local tags = {}
    for k, v in pairs(stat_tags) do tags[k] = v end
    local f = {}
    for _, reason in ipairs(DROP_REASONS) do
        tags.reason = reason
        f.points = dropped[reason]
        lines[#lines + 1] = lp.encode("hindsight_output_dropped", tags, f, ts, STAT_KINDS)
    end
    return lines
end

local function send_stats(now)
    local lines = stats_lines(now)
    local code, err, body = post(lines, 1, #lines)
    local action, _, msg = classify(code, err, body, 1)
    if action == "retry" then
        schedule_retry(now, note_error("self-monitoring write: " .. msg), code ~= nil)
    elseif action == "ok" then
        healthy()
    else
        note_error("self-monitoring write: " .. msg)
    end
end

-- flush() guarded: an unexpected error must not terminate the plugin (Hindsight would stop
-- reading the queue); it is treated like a failed write, kept and retried.
local function safe_flush()
    local ok, done, report = pcall(flush, MAX_REQUESTS_PER_CALL)
    if ok then return done, report end
    stats.retries = stats.retries + 1
    schedule_retry(gettime(), note_error("internal error while writing: " .. tostring(done)), true)
    return false
end

-- Messages -------------------------------------------------------------------------------------

local encode_raw = hm.encode_raw

local function encode_current()
    return encode_raw(converter, view, read_message("raw"))
end

function process_message()
    if not pending then
        local ok, line, reason, detail, skipped = pcall(encode_current)
        if not ok then
            line, reason, detail, skipped = nil, "bad_message", tostring(line), 0
        end
        if not line then
            if skipped and skipped > 0 then dropped.nan_inf = dropped.nan_inf + skipped end
            if reason ~= "nan_inf" then
                dropped.bad_message = dropped.bad_message + 1
                local msg = note_error("bad message: " .. tostring(detail))
                local now = gettime()
                if now - last_bad_log >= BAD_MESSAGE_LOG_INTERVAL then
                    last_bad_log = now
                    return -1, msg
                end
            end
            return -2
        end
        if skipped and skipped > 0 then dropped.nan_inf = dropped.nan_inf + skipped end
        batch_n = batch_n + 1
        batch[batch_n] = line
        batch_bytes = batch_bytes + #line + 1
        stats.messages_batched = stats.messages_batched + 1
    end
    pending = false
    if batch_n == 0 then return 0 end -- written by timer_event while Hindsight was retrying
    if batch_n >= 2 and (batch_n >= batch_max_points or batch_bytes >= batch_max_bytes) then
        if not due(gettime()) then
            pending = true
            return -3, stats.last_error
        end
        local done, report = safe_flush()
        if done then
            if report then
                update_checkpoint()
                return -1, report
            end
            return 0
        end
        pending = true
        return -3, stats.last_error
    end
    return -4
end

function timer_event(ns, shutdown)
    local now = gettime()
    if batch_n > 0 and (shutdown or due(now)) then
        if safe_flush() then update_checkpoint() end
    end
    if batch_n == 0 and (shutdown or gettime() >= next_attempt) then
        local ok, err = pcall(send_stats, gettime())
        if not ok then note_error("internal error in self-monitoring: " .. tostring(err)) end
    end
end
