-- This Source Code Form is part of ms-stacklight.
--[[
# stacklight.line_protocol

InfluxDB 1.x line protocol encoder, shared by the InfluxDB output and by analysis plugins.
Pure Lua 5.1, no globals, no dependencies beyond string/table/math.

    measurement[,tag_key=tag_value...] field_key=field_value[,field_key=field_value...] [timestamp]

Escaping (InfluxDB 1.x parser, models/points.go):
- measurement: `,` and space are escaped with a backslash; a leading `#` (a comment line for
  InfluxDB) is escaped too;
- tag keys, tag values, field keys: `,`, `=` and space;
- string field values: `"` and `\` (the value is double-quoted);
- a backslash is kept as is, except a run of backslashes directly before an escaped character
  or at the end of a key/value, which is doubled so that the parser cannot read it as an escape
  of the next separator;
- CR and LF cannot be represented outside string field values: they become spaces (escaped).
- Non-ASCII (UTF-8) bytes are written unchanged.

Values:
- float (Lua number): the shortest of %.15g/%.16g/%.17g that reads back to the same double;
  NaN and +-Inf are not representable: the field is skipped (reason "nan_inf");
- integer: `123i`; a Lua number must be integral and within [-2^63, 2^63), a string must be a
  decimal integer within int64 (exact 64-bit values decoded from protobuf come as strings);
- boolean: `true`/`false`; string: `"..."`.

Tags are sorted by key (byte order), tags with an empty key or value are dropped, and a point
without tags is written `measurement field=...` (no trailing comma).

API:
    local lp = require "stacklight.line_protocol"
    lp.escape_measurement(s), lp.escape_key(s), lp.escape_string(s)
    lp.integer_string(v) -> "1700000000123" (an integral number, exact below 2^53)
    lp.integer_field(v)  -> "15i" (the same with the integer suffix)
    lp.tag_string(v)     -> a tag value as a string (numbers and booleans converted)
    lp.format_float(v)   -> "1.5" | nil, "nan_inf"
    lp.format_integer(v) -> "15i" | nil, reason      (v: number or decimal string)
    lp.format_value(v, kind) -> string | nil, reason (kind: "integer"|"float"|"boolean"|"string"|nil)
    lp.tag_set(tags)     -> ",a=1,b=2" (sorted) or ""
    lp.encode(measurement, tags, fields, timestamp, kinds) -> line | nil, reason, skipped
        tags:   { key = value } (strings; numbers/booleans are converted with tostring/format)
        fields: { key = value }, written sorted by key
        kinds:  optional { key = "integer"|"float"|"boolean"|"string" } (default: by Lua type,
                numbers are floats)
        timestamp: integer number or decimal string in the caller's precision, or nil
        skipped: number of fields left out because they were NaN/Inf
--]]

local string = require "string"
local table = require "table"
local math = require "math"

local find, gsub, format, byte, match = string.find, string.gsub, string.format, string.byte, string.match
local sort = table.sort
local floor, huge = math.floor, math.huge
local type, tonumber, tostring, pairs, next, setmetatable = type, tonumber, tostring, pairs, next, setmetatable

local M = {}

local TWO63 = 9223372036854775808 -- 2^63, exact as a double
local INT64_MAX = "9223372036854775807"
local INT64_MIN_ABS = "9223372036854775808"

-- Escaping -------------------------------------------------------------------------------------

-- Escaped names are cached, bounded: metric names and tag values repeat on every collection.
local CACHE_MAX = 4096

local function cached(escape)
    local cache, n = {}, 0
    return function(s)
        local e = cache[s]
        if e then return e end
        e = escape(s)
        if n >= CACHE_MAX then cache, n = {}, 0 end
        cache[s] = e
        n = n + 1
        return e
    end
end

local function escape_generic(s, special_class)
    s = gsub(s, "[\r\n]", " ")
    s = gsub(s, "(\\*)(" .. special_class .. ")", "%1%1\\%2")
    s = gsub(s, "(\\+)$", "%1%1")
    return s
end

--- Escapes a tag key, tag value or field key: `,` `=` and space.
local escape_key = cached(function(s)
    if find(s, "[,= \\\r\n]") then return escape_generic(s, "[,= ]") end
    return s
end)
M.escape_key = escape_key

--- Escapes a measurement name: `,` and space, and a leading `#`.
local escape_measurement = cached(function(s)
    local e = s
    if find(s, "[, \\\r\n]") then e = escape_generic(s, "[, ]") end
    if byte(e, 1) == 35 then e = "\\" .. e end -- '#': a comment line for InfluxDB
    return e
end)
M.escape_measurement = escape_measurement

--- Escapes the content of a string field value (without the surrounding quotes).
local function escape_string(s)
    if find(s, '["\\]') then
        return (gsub(s, '(["\\])', "\\%1"))
    end
    return s
end
M.escape_string = escape_string

-- Values ---------------------------------------------------------------------------------------

-- string.format("%d") converts through a C long, so where long has 64 bits (the platforms
-- Hindsight runs on) it prints every integral double below 2^53 exactly, and several times faster
-- than "%.0f" (which goes through the exact floating-point printer). Checked once, here.
local INT_FORMAT = format("%d", 9007199254740991) == "9007199254740991" and "%d" or "%.0f"
M.INT_FORMAT = INT_FORMAT
local INT_I_FORMAT = INT_FORMAT .. "i"

--- Decimal string of an integral number (exact below 2^53; larger doubles print exactly as
--- their value).
local function integer_string(v)
    if v > -9007199254740992 and v < 9007199254740992 then return format(INT_FORMAT, v) end
    return format("%.0f", v)
end
M.integer_string = integer_string

--- The same with the integer field suffix: "15i".
local function integer_field(v)
    if v > -9007199254740992 and v < 9007199254740992 then return format(INT_I_FORMAT, v) end
    return format("%.0fi", v)
end
M.integer_field = integer_field

--- Shortest decimal (up to 17 significant digits) that reads back as the same double.
local function format_float(v)
    if v ~= v or v == huge or v == -huge then return nil, "nan_inf" end
    if v == floor(v) and v > -1e15 and v < 1e15 then return integer_string(v) end
    -- A value with at most 6 decimals below 1e9 (0.52, 775.459) is the decimal x / 1e6: the
    -- division of two exact doubles rounds like strtod does, so that decimal reads back as v,
    -- and it has at most 15 digits, so %.15g prints it (and nothing shorter reads back: two such
    -- decimals are 1e-6 apart, more than a double's spacing here).
    if v > -1e9 and v < 1e9 then
        local x = floor(v * 1e6 + 0.5)
        if x / 1e6 == v then return format("%.15g", v) end
    end
    -- Measured values mostly need 16 or 17 digits, so 16 is tried first: when 16 digits do not
    -- read back, 15 cannot either (the 15-digit rounding is no nearer), so 17 it is; when they
    -- do, 15 may too (775.4590000001 rather than 775.4590000000999).
    local s = format("%.16g", v)
    if tonumber(s) ~= v then return format("%.17g", v) end
    local s15 = format("%.15g", v)
    if tonumber(s15) == v then return s15 end
    return s
end
M.format_float = format_float

-- Compares two decimal digit strings without leading zeros: true if a > b.
local function digits_greater(a, b)
    local la, lb = #a, #b
    if la ~= lb then return la > lb end
    return a > b
end

--- Integer field value with its `i` suffix.
local function format_integer(v)
    local t = type(v)
    if t == "number" then
        if v ~= v or v == huge or v == -huge then return nil, "nan_inf" end
        if floor(v) ~= v then return nil, "not an integer" end
        if v >= TWO63 or v < -TWO63 then return nil, "integer out of int64 range" end
        return integer_field(v)
    elseif t == "string" then
        local neg, digits = match(v, "^(%-?)0*(%d+)$")
        if not digits then return nil, "not an integer" end
        if neg == "-" then
            if digits_greater(digits, INT64_MIN_ABS) then return nil, "integer out of int64 range" end
            if digits == "0" then return "0i" end
            return "-" .. digits .. "i"
        end
        if digits_greater(digits, INT64_MAX) then return nil, "integer out of int64 range" end
        return digits .. "i"
    end
    return nil, "not an integer"
end
M.format_integer = format_integer

local function format_boolean(v)
    return v and "true" or "false"
end
M.format_boolean = format_boolean

local function format_string(s)
    return '"' .. escape_string(s) .. '"'
end
M.format_string = format_string

--- Formats a field value; kind defaults to the Lua type (numbers are floats).
local function format_value(v, kind)
    local t = type(v)
    if kind == "integer" then
        return format_integer(v)
    elseif kind == "float" then
        if t == "string" then v = tonumber(v) end
        if type(v) ~= "number" then return nil, "not a number" end
        return format_float(v)
    elseif kind == "boolean" then
        if t ~= "boolean" then return nil, "not a boolean" end
        return format_boolean(v)
    elseif kind == "string" then
        if t ~= "string" then v = tostring(v) end
        return format_string(v)
    elseif kind ~= nil then
        return nil, "unknown kind " .. tostring(kind)
    end
    if t == "number" then return format_float(v) end
    if t == "boolean" then return format_boolean(v) end
    if t == "string" then return format_string(v) end
    return nil, "unsupported value type " .. t
end
M.format_value = format_value

--- A tag value as a string: numbers as in the line protocol (without type suffix).
local function tag_string(v)
    local t = type(v)
    if t == "string" then return v end
    if t == "number" then
        if floor(v) == v and v > -1e15 and v < 1e15 then return integer_string(v) end
        return format_float(v)
    end
    if t == "boolean" then return v and "true" or "false" end
    return nil
end
M.tag_string = tag_string

-- Points ---------------------------------------------------------------------------------------

local scratch_keys = {}
local scratch_fields = {}
local last_ts_num, last_ts_str = nil, nil

-- Tag sets by tags table, checked against a copy of the table on every use (a caller may
-- reuse and modify its table): a known, unchanged table costs one pass over it.
local tagset_cache = setmetatable({}, { __mode = "k" })

local function build_tag_set(tags)
    local nk = 0
    for k, v in pairs(tags) do
        if type(v) ~= "string" then v = tag_string(v) end
        if v and v ~= "" and type(k) == "string" and k ~= "" then
            nk = nk + 1
            scratch_keys[nk] = k
        end
    end
    if nk == 0 then return "" end
    for i = nk + 1, #scratch_keys do scratch_keys[i] = nil end
    if nk > 1 then sort(scratch_keys) end
    local s = ""
    for i = 1, nk do
        local k = scratch_keys[i]
        local v = tags[k]
        if type(v) ~= "string" then v = tag_string(v) end
        s = s .. "," .. escape_key(k) .. "=" .. escape_key(v)
    end
    return s
end

local function tag_set(tags)
    local entry = tagset_cache[tags]
    if entry then
        local copy, count = entry.copy, 0
        for k, v in pairs(tags) do
            if copy[k] ~= v then
                count = -1
                break
            end
            count = count + 1
        end
        if count == entry.n then return entry.s end
    end
    local s = build_tag_set(tags)
    local copy, count = {}, 0
    for k, v in pairs(tags) do
        copy[k] = v
        count = count + 1
    end
    tagset_cache[tags] = { s = s, copy = copy, n = count }
    return s
end

--- The tag set of a point: ",k=v,..." sorted by key, or "" without (non-empty) tags.
function M.tag_set(tags)
    if not tags then return "" end
    return tag_set(tags)
end

-- The timestamp as line-protocol digits: nil without one; nil, "bad timestamp" if unusable.
local function timestamp_string(timestamp)
    if timestamp == nil then return nil end
    if type(timestamp) == "number" then
        if timestamp == last_ts_num then return last_ts_str end
        if timestamp ~= timestamp or floor(timestamp) ~= timestamp or timestamp == huge or timestamp == -huge then
            return nil, "bad timestamp"
        end
        local ts = integer_string(timestamp)
        last_ts_num, last_ts_str = timestamp, ts
        return ts
    elseif type(timestamp) == "string" and find(timestamp, "^%-?%d+$") then
        return timestamp
    end
    return nil, "bad timestamp"
end

--- One point in line protocol (no trailing newline).
function M.encode(measurement, tags, fields, timestamp, kinds)
    if type(measurement) ~= "string" or measurement == "" then return nil, "empty measurement", 0 end
    -- the pieces are joined once, at the end: every intermediate string would be hashed and
    -- collected for nothing
    local name = escape_measurement(measurement)
    local tagset = tags and tag_set(tags) or ""

    local skipped = 0
    local fs
    local k1 = next(fields)
    if k1 ~= nil and next(fields, k1) == nil then -- one field: no sorting
        if type(k1) ~= "string" or k1 == "" then return nil, "bad field key", 0 end
        local fv, err = format_value(fields[k1], kinds and kinds[k1])
        if fv then
            -- one field, the common case: the whole line in one concatenation
            local ts, terr = timestamp_string(timestamp)
            if terr then return nil, terr, 0 end
            if ts then return name .. tagset .. " " .. escape_key(k1) .. "=" .. fv .. " " .. ts, nil, 0 end
            return name .. tagset .. " " .. escape_key(k1) .. "=" .. fv, nil, 0
        elseif err == "nan_inf" then
            skipped = 1
        else
            return nil, "field " .. k1 .. ": " .. err, 0
        end
    else
        local nf = 0
        for k in pairs(fields) do
            if type(k) ~= "string" or k == "" then return nil, "bad field key", 0 end
            nf = nf + 1
            scratch_fields[nf] = k
        end
        for i = nf + 1, #scratch_fields do scratch_fields[i] = nil end
        if nf > 1 then sort(scratch_fields) end
        for i = 1, nf do
            local k = scratch_fields[i]
            local fv, err = format_value(fields[k], kinds and kinds[k])
            if fv then
                if fs then
                    fs = fs .. "," .. escape_key(k) .. "=" .. fv
                else
                    fs = escape_key(k) .. "=" .. fv
                end
            elseif err == "nan_inf" then
                skipped = skipped + 1
            else
                return nil, "field " .. k .. ": " .. err, skipped
            end
        end
    end
    if not fs then
        return nil, skipped > 0 and "nan_inf" or "no fields", skipped
    end

    local ts, terr = timestamp_string(timestamp)
    if terr then return nil, terr, skipped end
    if ts then return name .. tagset .. " " .. fs .. " " .. ts, nil, skipped end
    return name .. tagset .. " " .. fs, nil, skipped
end

return M
