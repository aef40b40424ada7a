-- This Source Code Form is part of ms-stacklight.
--[[
# stacklight.influxdb_http

InfluxDB 1.x's HTTP API for the output plugin, over LuaSocket: `POST /write` of line-protocol
lines, `GET /ping`, HTTP basic authentication, and what an answer means for the points sent.

Answers (classify):
- 2xx: "ok".
- 400 from InfluxDB ({"error":"..."}) saying "partial write": InfluxDB 1.x wrote the good points,
  "committed" with the rejected ones counted (dropped=N plus the "unable to parse" lines).
  400 "unable to parse" without a partial write: every point was unparsable, "reject_all".
  Any other 400 from InfluxDB, and 413: "split" the request in halves (writes are idempotent).
- No answer (network error, timeout), 5xx, 404 (database not found), 401/403 (auth), 408, 429
  and any answer that does not come from InfluxDB (a proxy's 400 page): "retry".

API:
    local influxdb_http = require "stacklight.influxdb_http"
    local client = influxdb_http.new{ influxdb_url =, database =, retention_policy =, precision =,
                                      timeout = }   -- sets LuaSocket's http.TIMEOUT to timeout
    client:set_basic_auth(username, password)
    local code, err, body, ms = client:post(lines, lo, hi) -- POSTs lines[lo..hi] to /write;
      -- code nil when there was no answer (err says why); body: at most 64 KiB of the answer
    client:ping()                     -- whether InfluxDB answers GET /ping at all (1 s at most)
    local action, rejected, msg, type_conflict = client:classify(code, err, body, n)
      -- for a request of n points: "ok" | "committed" | "reject_all" | "split" | "retry", the
      -- points InfluxDB refused, a message for the log ("HTTP 400: ..."), and whether the
      -- answer reports a field type conflict
    influxdb_http.base64(s), influxdb_http.urlencode(s)
--]]

local string = require "string"
local table = require "table"
local math = require "math"
local socket = require "socket"
local http = require "socket.http"
local cjson = require "cjson"

local byte, sub, find, gsub, format, match = string.byte, string.sub, string.find, string.gsub, string.format, string.match
local concat = table.concat
local floor, min = math.floor, math.min
local type, tostring, tonumber, pcall, setmetatable = type, tostring, tonumber, pcall, setmetatable
local gettime = socket.gettime

local M = {}
M.__index = M

local MAX_RESPONSE_BYTES = 65536
local BODY_CHUNK_LINES = 256 -- lines per chunk of a request body

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
function M.base64(s)
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

function M.urlencode(s)
    return (gsub(s, "[^%w%-%._~]", function(c) return format("%%%02X", byte(c)) end))
end

function M.new(opts)
    local timeout = opts.timeout
    -- LuaSocket applies http.TIMEOUT to every socket operation of a request.
    http.TIMEOUT = timeout
    local rp = opts.retention_policy or ""
    return setmetatable({
        write_url = opts.influxdb_url .. "/write?db=" .. M.urlencode(opts.database)
            .. (rp ~= "" and ("&rp=" .. M.urlencode(rp)) or "") .. "&precision=" .. opts.precision,
        ping_url = opts.influxdb_url .. "/ping",
        database = opts.database,
        timeout = timeout,
        ping_timeout = min(timeout, 1),
        headers = { ["content-type"] = "text/plain; charset=utf-8" },
    }, M)
end

function M.set_basic_auth(self, username, password)
    self.headers["authorization"] = "Basic " .. M.base64(username .. ":" .. password)
end

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

function M.post(self, lines, lo, hi)
    local resp, resp_bytes, resp_n = {}, 0, 0
    self.headers["content-length"] = tostring(body_length(lines, lo, hi))
    local t0 = gettime()
    local ok, r, code = pcall(http.request, {
        url = self.write_url,
        method = "POST",
        headers = self.headers,
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

function M.ping(self)
    http.TIMEOUT = self.ping_timeout
    local ok, r, code = pcall(http.request, { url = self.ping_url, method = "GET", sink = function() return 1 end })
    http.TIMEOUT = self.timeout
    return ok and r ~= nil and code ~= nil
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

function M.classify(self, code, err, body, n)
    if not code then return "retry", 0, "no answer from InfluxDB: " .. tostring(err), false end
    if code >= 200 and code < 300 then return "ok", 0, nil, false end
    local text, from_influx = influx_error(body)
    local conflict = find(text, "field type conflict", 1, true) ~= nil
    local msg = format("HTTP %d: %s", code, text)
    if code == 400 and from_influx then
        if find(text, "partial write", 1, true) then
            local rejected = tonumber(match(text, "dropped=(%d+)")) or 0
            local _, unparsable = gsub(text, "unable to parse", "")
            rejected = rejected + unparsable
            if rejected < 1 then rejected = 1 end
            if rejected > n then rejected = n end
            return "committed", rejected, msg, conflict
        elseif find(text, "unable to parse", 1, true) then
            return "reject_all", n, msg, conflict
        end
        return "split", 0, msg, conflict
    elseif code == 413 then
        return "split", 0, msg, conflict
    elseif code == 401 or code == 403 then
        return "retry", 0, msg .. " (check username and password)", conflict
    elseif code == 404 then
        return "retry", 0, msg .. " (does database " .. self.database .. " exist?)", conflict
    end
    return "retry", 0, msg, conflict
end

return M
