-- This Source Code Form is part of ms-stacklight.
--[[
# stacklight.heka_metric

Turns one decoded Heka metric message (a `stacklight.heka_protobuf` view) into one InfluxDB
line-protocol point. Two message conventions are understood, and may be mixed:

Snap (Type "snap.heka", snap-plugin-publisher-heka), fields in this order:
  one STRING field per dynamic namespace element and per Snap tag, `dimensions` (STRING array
  naming those fields), `name` (the metric name), `value` (INTEGER, DOUBLE, STRING or BOOL),
  `timestamp` (INTEGER, collection time in ns).

Generic (Type "stacklight.metric", for analysis plugins):
  `name`, then either `value` or `value_fields` (STRING array of the names of the fields that
  are the point's fields), optional `tag_fields` (STRING array of the names of the fields that
  are tags; `dimensions` is accepted too), optional `timestamp` (INTEGER ns).

Rules:
- measurement = the LAST `name` field; value = the LAST `value` field; timestamp = the LAST
  `timestamp` field (a dynamic element or tag may itself be called `name`, `value` or
  `timestamp`: Snap writes those first, so a tag's value is the FIRST field of its name);
- tags = dimensions/tag_fields minus `excluded_tags`, plus `static_tags` (a static tag wins
  over a message tag of the same key); empty values are dropped; sorted by key;
- field types follow the Heka value_type: INTEGER -> `i` (exact int64), DOUBLE -> float
  (NaN/Inf skipped and counted), BOOL -> boolean, STRING/BYTES -> string;
- time = `timestamp` field (INTEGER ns; a DOUBLE is accepted, with double rounding), else the
  message Timestamp header, converted exactly to the precision (floor of ns / unit).

API:
    local hm = require "stacklight.heka_metric"
    local conv = hm.new{ precision = "ms", excluded_tags = {"plugin_running_on"},
                         static_tags = { cluster = "prod" } }
    local line, reason, detail, skipped = conv:encode(view)
      -- line: the point, or nil with reason "bad_message" | "nan_inf" and a detail string;
      -- skipped: number of NaN/Inf values left out
--]]

local string = require "string"
local table = require "table"
local math = require "math"
local lp = require "stacklight.line_protocol"

local format = string.format
local concat, sort = table.concat, table.sort
local floor, huge = math.floor, math.huge
local pairs, ipairs, next, type, setmetatable, tostring = pairs, ipairs, next, type, setmetatable, tostring

local escape_key, escape_measurement = lp.escape_key, lp.escape_measurement
local format_float, escape_string = lp.format_float, lp.escape_string

local M = {}
M.__index = M

M.DIVISORS = { ns = 1, u = 1e3, ms = 1e6, s = 1e9 }

local STRING, BYTES, INTEGER, DOUBLE, BOOL = 0, 1, 2, 3, 4

function M.new(opts)
    opts = opts or {}
    local precision = opts.precision or "ms"
    local divisor = M.DIVISORS[precision]
    if not divisor then error("precision must be one of ns, u, ms, s; got " .. tostring(precision)) end
    local excluded = {}
    for _, k in ipairs(opts.excluded_tags or { "plugin_running_on" }) do
        excluded[k] = true
    end
    local static_keys, static_vals = {}, {}
    for k, v in pairs(opts.static_tags or {}) do
        local sv = lp.tag_string(v)
        if type(k) == "string" and k ~= "" and sv and sv ~= "" then
            static_keys[#static_keys + 1] = k
            static_vals[k] = sv
        end
    end
    sort(static_keys)
    return setmetatable({
        divisor = divisor,
        excluded = excluded,
        static_keys = static_keys,
        static_vals = static_vals,
        keys = {},   -- scratch: tag keys of the current point
        vals = {},   -- scratch: tag key -> value
        buf = {},    -- scratch: pieces of the line
    }, M)
end

-- The value of field i as a tag value string (nil if it has none).
local function tag_value(m, i)
    local vt = m.vtype[i]
    local v = m.value[i]
    if v == nil then return nil end
    if vt == STRING or vt == BYTES then return v end
    if vt == INTEGER then return m:integer_string(i) end
    if vt == DOUBLE then return format_float(v) end
    if vt == BOOL then return v and "true" or "false" end
    return nil
end

-- The line-protocol representation of field i's value; nil, reason when it has none.
local function field_value(m, i)
    local vt = m.vtype[i]
    local v = m.value[i]
    if v == nil then return nil, "bad_message" end
    if vt == DOUBLE then
        if v ~= v or v == huge or v == -huge then return nil, "nan_inf" end
        return format_float(v)
    elseif vt == INTEGER then
        return m:integer_string(i) .. "i"
    elseif vt == STRING or vt == BYTES then
        return '"' .. escape_string(v) .. '"'
    elseif vt == BOOL then
        return v and "true" or "false"
    end
    return nil, "bad_message"
end

-- Adds the tags named by the STRING array field `fi` to the scratch set; returns the new count.
local function add_named_tags(self, m, fi, nk)
    if not fi or (m.vtype[fi] ~= STRING and m.vtype[fi] ~= BYTES) then return nk end
    local strings, first, excluded, static_vals = m.strings, m.first, self.excluded, self.static_vals
    local keys, vals = self.keys, self.vals
    local s0 = m.sfirst[fi] - 1
    for k = 1, m.count[fi] do
        local key = strings[s0 + k]
        if key ~= "" and not excluded[key] and not static_vals[key] and not vals[key] then
            local i = first[key]
            if i then
                local v = tag_value(m, i)
                if v and v ~= "" then
                    nk = nk + 1
                    keys[nk] = key
                    vals[key] = v
                end
            end
        end
    end
    return nk
end

function M.encode(self, m)
    local last = m.last
    local ni = last.name
    local measurement = ni and m.value[ni]
    if type(measurement) ~= "string" or measurement == "" then
        return nil, "bad_message", "no metric name", 0
    end

    -- tags
    local keys, vals = self.keys, self.vals
    if next(vals) then -- left over by an aborted call
        for k in pairs(vals) do vals[k] = nil end
    end
    local nk = add_named_tags(self, m, last.dimensions, 0)
    nk = add_named_tags(self, m, last.tag_fields, nk)
    local static_keys, static_vals = self.static_keys, self.static_vals
    for k = 1, #static_keys do
        local key = static_keys[k]
        nk = nk + 1
        keys[nk] = key
        vals[key] = static_vals[key]
    end
    for k = nk + 1, #keys do keys[k] = nil end
    if nk > 1 then sort(keys) end

    local buf = self.buf
    buf[1] = escape_measurement(measurement)
    local n = 1
    for k = 1, nk do
        local key = keys[k]
        buf[n + 1] = ","
        buf[n + 2] = escape_key(key)
        buf[n + 3] = "="
        buf[n + 4] = escape_key(vals[key])
        n = n + 4
        vals[key] = nil
    end

    -- fields
    local written, skipped = 0, 0
    local vf = last.value_fields
    if vf and (m.vtype[vf] == STRING or m.vtype[vf] == BYTES) then
        local strings, s0 = m.strings, m.sfirst[vf] - 1
        for k = 1, m.count[vf] do
            local fname = strings[s0 + k]
            local i = last[fname]
            if not i or fname == "" then
                return nil, "bad_message", "value field " .. tostring(fname) .. " is missing", skipped
            end
            local fv, err = field_value(m, i)
            if fv then
                written = written + 1
                buf[n + 1] = written == 1 and " " or ","
                buf[n + 2] = escape_key(fname)
                buf[n + 3] = "="
                buf[n + 4] = fv
                n = n + 4
            elseif err == "nan_inf" then
                skipped = skipped + 1
            else
                return nil, "bad_message", "value field " .. fname .. " has no usable value", skipped
            end
        end
    else
        local vi = last.value
        if not vi then return nil, "bad_message", "no value", 0 end
        local fv, err = field_value(m, vi)
        if fv then
            written = 1
            buf[n + 1] = " value="
            buf[n + 2] = fv
            n = n + 2
        elseif err == "nan_inf" then
            skipped = 1
        else
            return nil, "bad_message", "value has no usable value", 0
        end
    end
    if written == 0 then
        if skipped > 0 then return nil, "nan_inf", "non-finite value in " .. measurement, skipped end
        return nil, "bad_message", "no value", skipped
    end

    -- time
    local divisor = self.divisor
    local ts
    local ti = last.timestamp
    if ti then
        local vt = m.vtype[ti]
        if vt == INTEGER then
            ts = m:field_time(ti, divisor)
        elseif vt == DOUBLE then
            local v = m.value[ti]
            if v and v == v and v > 0 and v < huge then ts = format("%.0f", floor(v / divisor)) end
        end
        if ts == "0" then ts = nil end
    end
    if not ts then
        ts = m:header_time(divisor)
        if not ts then return nil, "bad_message", "bad Timestamp", skipped end
    end
    buf[n + 1] = " "
    buf[n + 2] = ts
    n = n + 2
    return concat(buf, "", 1, n), nil, nil, skipped
end

return M
