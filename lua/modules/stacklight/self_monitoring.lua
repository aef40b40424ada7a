-- This Source Code Form is part of ms-stacklight.
--[[
# stacklight.self_monitoring

The InfluxDB output's own counters and the points that report them. The plugin writes them in a
request of their own from every timer_event (every ticker_interval seconds, the time-based
flush), right after the batch was written; not while InfluxDB is failing (the gap in the series
is the outage; the counters then tell what happened). Counters are cumulative since the plugin
started, gauges are marked. Tags: static_tags, hostname (Hindsight's Hostname: the node, with
hostNetwork), plugin (the plugin's Logger, e.g. output.influxdb).

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

API:
    local self_monitoring = require "stacklight.self_monitoring"
    local mon = self_monitoring.new{ static_tags =, hostname =, plugin_name =, precision = }
    mon.stats.requests = mon.stats.requests + 1     -- the counters and gauges above (a table)
    mon.dropped.nan_inf = mon.dropped.nan_inf + 1   -- the dropped points by reason (a table)
    mon:answer(code, type_conflict)   -- counts auth_failures, type_conflicts of a write's answer
    mon:written(n, rejected, ms, partial) -- counts a write InfluxDB took (points, latency...)
    local msg = mon:note_error(text)  -- sets last_error (control characters blanked, at most
                                      -- 512 bytes) and last_error_time; returns the text kept
    local lines = mon:lines(now, backlog_points, backoff_seconds) -- the points, time now (s)
--]]

local string = require "string"
local math = require "math"
local socket = require "socket"
local lp = require "stacklight.line_protocol"
local hm = require "stacklight.heka_metric"

local format, gsub, sub = string.format, string.gsub, string.sub
local floor = math.floor
local pairs, ipairs, setmetatable = pairs, ipairs, setmetatable
local gettime = socket.gettime

local M = {}
M.__index = M

M.DROP_REASONS = { "bad_message", "nan_inf", "rejected_by_influxdb" }

local KINDS = {
    messages_batched = "integer", points_written = "integer", points_dropped = "integer",
    requests = "integer", request_failures = "integer", retries = "integer",
    auth_failures = "integer", partial_writes = "integer", type_conflicts = "integer",
    splits = "integer", batch_latency_ms = "float", last_batch_points = "integer",
    backlog_points = "integer", backoff_seconds = "float", last_status = "integer",
    last_error = "string", last_error_time = "integer", points = "integer",
}

function M.new(opts)
    local tags = {}
    for k, v in pairs(opts.static_tags or {}) do tags[k] = v end
    tags.hostname = opts.hostname
    tags.plugin = opts.plugin_name
    return setmetatable({
        stats = {
            messages_batched = 0, points_written = 0, requests = 0, request_failures = 0, retries = 0,
            auth_failures = 0, partial_writes = 0, type_conflicts = 0, splits = 0,
            batch_latency_ms = 0, last_batch_points = 0, last_status = 0, last_error = "", last_error_time = 0,
        },
        dropped = { nan_inf = 0, rejected_by_influxdb = 0, bad_message = 0 },
        tags = tags,
        divisor = hm.DIVISORS[opts.precision or "ms"],
    }, M)
end

function M.note_error(self, msg)
    msg = gsub(msg, "[%c]", " ")
    if #msg > 512 then msg = sub(msg, 1, 509) .. "..." end
    self.stats.last_error = msg
    self.stats.last_error_time = floor(gettime())
    return msg
end

--- Counts an answer to a write: type_conflict as classified by stacklight.influxdb_http.
function M.answer(self, code, type_conflict)
    local stats = self.stats
    if type_conflict then stats.type_conflicts = stats.type_conflicts + 1 end
    if code == 401 or code == 403 then stats.auth_failures = stats.auth_failures + 1 end
end

--- Counts a write request of n points that InfluxDB took, rejected of them, in elapsed ms;
--- partial: a 400 "partial write".
function M.written(self, n, rejected, elapsed, partial)
    local stats = self.stats
    stats.points_written = stats.points_written + n - rejected
    stats.batch_latency_ms = elapsed
    stats.last_batch_points = n
    if rejected > 0 then
        self.dropped.rejected_by_influxdb = self.dropped.rejected_by_influxdb + rejected
        if partial then stats.partial_writes = stats.partial_writes + 1 end
    end
end

function M.lines(self, now, backlog_points, backoff_seconds)
    local ts = format("%.0f", floor(now * (1e9 / self.divisor)))
    local dropped = self.dropped
    local total = 0
    for _, reason in ipairs(M.DROP_REASONS) do total = total + dropped[reason] end
    local fields = {}
    for k, v in pairs(self.stats) do fields[k] = v end
    fields.points_dropped = total
    fields.backlog_points = backlog_points
    fields.backoff_seconds = backoff_seconds
    local lines = {}
    lines[#lines + 1] = lp.encode("hindsight_output", self.tags, fields, ts, KINDS)
    local tags = {}
    for k, v in pairs(self.tags) do tags[k] = v end
    local f = {}
    for _, reason in ipairs(M.DROP_REASONS) do
        tags.reason = reason
        f.points = dropped[reason]
        lines[#lines + 1] = lp.encode("hindsight_output_dropped", tags, f, ts, KINDS)
    end
    return lines
end

return M
