-- This Source Code Form is part of ms-stacklight.
--[[
# InfluxDB 1.x output (Hindsight 0.16 / lua_sandbox 1.4, Lua 5.1)

Batches metric messages (Type `snap.heka` from Snap's Heka publisher, `stacklight.metric` from
analysis plugins) as InfluxDB line protocol and writes them with `POST /write`. This file is the
batching state machine; the modules hold the rest: configuration keys (stacklight.influxdb_config),
password (stacklight.credentials), HTTP and InfluxDB's answers (stacklight.influxdb_http),
self-monitoring (stacklight.self_monitoring), the exact decoding of `read_message("raw")` and
the conversion to a point (stacklight.heka_protobuf, stacklight.heka_metric).

## Delivery
- process_message returns -4 while batching; when a batch is full it is written and 0 is
  returned only after InfluxDB answered 2xx (timer_event commits with update_checkpoint()).
- A "retry" answer keeps the whole batch, retried with an exponential back-off (1 s doubling up
  to max_retry_backoff): while the batch is full process_message returns -3 (Hindsight
  re-offers the same message, already batched, about every second, without a request until the
  back-off expires) and Hindsight's queue keeps the backlog. Nothing is dropped. While InfluxDB
  does not answer at all, GET /ping is asked at most once a second and the write retried as soon
  as it answers; an InfluxDB that answers with an error keeps the back-off. A 401/403 reads the
  password again (a rotated Secret).
- A partial write commits the batch, counting only the rejected points as dropped; "split"
  halves the request, retried at once, down to single points (a single point still refused is
  dropped and counted); at most 8 requests per call, a split goes on in the next calls.
- A flush from process_message that dropped points returns -1 with InfluxDB's message after
  committing, so Hindsight logs it as a warning (print() reaches its log only at log_level 7).
- process_message flushes only batches of at least two points, so Hindsight's batching flag is
  set and a -3 never moves the checkpoint past a point that is not written.
- Bad messages (undecodable, no name/value, unsupported value) are skipped (-2, or -1 with a
  reason at most once a minute) and counted; the plugin never raises on bad input.
--]]

local string = require "string"
local math = require "math"
local socket = require "socket"
local config = require "stacklight.influxdb_config"
local credentials = require "stacklight.credentials"
local influxdb_http = require "stacklight.influxdb_http"
local self_monitoring = require "stacklight.self_monitoring"
local hpb = require "stacklight.heka_protobuf"
local hm = require "stacklight.heka_metric"

local format = string.format
local floor, min = math.floor, math.min
local tostring, pcall = tostring, pcall
local gettime = socket.gettime
local read_message, update_checkpoint = read_message, update_checkpoint
local log = print or function() end

local cfg = config.read(read_config)
local plugin_name, max_retry_backoff = cfg.plugin_name, cfg.max_retry_backoff
local batch_max_points, batch_max_bytes = cfg.batch_max_points, cfg.batch_max_bytes
local client, monitor = influxdb_http.new(cfg), self_monitoring.new(cfg)
local stats, dropped = monitor.stats, monitor.dropped

-- at load, and again after a 401/403 (a rotated Secret)
local function load_credentials()
    if cfg.username == "" then return true end
    local password, err = credentials.read(cfg.password_file, cfg.password_env)
    if password then client:set_basic_auth(cfg.username, password) end
    return password, err
end
assert(load_credentials())

local MAX_REQUESTS_PER_CALL = 8   -- bounds the time and instructions of one call while splitting
local BAD_MESSAGE_LOG_INTERVAL = 60
local PING_INTERVAL = 1

-- State ----------------------------------------------------------------------------------------

local view, converter = hpb.new(), hm.new(cfg) -- precision, excluded_tags, static_tags, cache_bytes

local batch, batch_n, batch_bytes = {}, 0, 0 -- line-protocol lines, how many, their bytes
local ranges_lo, ranges_hi, nranges = {}, {}, 0 -- requests still to send for this batch
local covered = 0                 -- lines 1..covered are in a range or already written
local pending = false             -- the message Hindsight re-offers after -3 is already batched
local backoff, next_attempt = 0, 0
-- unreachable: the last failure had no HTTP answer at all, so a /ping can tell when it is back
local unreachable, next_ping = false, 0
local last_bad_log = -BAD_MESSAGE_LOG_INTERVAL

local function note_error(msg) return monitor:note_error(msg) end

local function classify(code, err, body, n)
    local action, rejected, msg, type_conflict = client:classify(code, err, body, n)
    monitor:answer(code, type_conflict)
    return action, rejected, msg
end

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

-- Whether a write may be tried now: the back-off is over, or an unreachable InfluxDB answers again.
local function due(now)
    if now >= next_attempt then return true end
    if not unreachable or now < next_ping then return false end
    next_ping = now + PING_INTERVAL
    if not client:ping() then return false end
    log(plugin_name .. ": InfluxDB answers again; retrying now")
    next_attempt, unreachable = now, false
    return true
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
        local code, err, body, elapsed = client:post(batch, lo, hi)
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
            if code == 401 or code == 403 then load_credentials() end
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
            monitor:written(n, rejected, elapsed, action == "committed")
            if rejected > 0 then
                report = format("InfluxDB rejected %d of %d points: %s", rejected, n, note_error(msg))
                log(plugin_name .. ": " .. report)
            end
        end
    end
    if nranges > 0 then return false end -- still splitting: continue on the next call
    batch = {}
    batch_n, batch_bytes, nranges, covered = 0, 0, 0, 0
    return true, report
end

local function send_stats(now)
    local lines = monitor:lines(now, batch_n, backoff)
    local code, err, body = client:post(lines, 1, #lines)
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

function process_message()
    if not pending then
        local ok, line, reason, detail, skipped = pcall(encode_raw, converter, view, read_message("raw"))
        if not ok then
            line, reason, detail, skipped = nil, "bad_message", tostring(line), 0
        end
        if skipped and skipped > 0 then dropped.nan_inf = dropped.nan_inf + skipped end
        if not line then
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

function timer_event(ns, shutdown) -- luacheck: ignore ns
    local now = gettime()
    if batch_n > 0 and (shutdown or due(now)) then
        if safe_flush() then update_checkpoint() end
    end
    if batch_n == 0 and (shutdown or gettime() >= next_attempt) then
        local ok, err = pcall(send_stats, gettime())
        if not ok then note_error("internal error in self-monitoring: " .. tostring(err)) end
    end
end
