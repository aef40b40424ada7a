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
  are the point's fields, written in that order), optional `tag_fields` (STRING array of the
  names of the fields that are tags; `dimensions` works too), optional `timestamp` (INTEGER ns).

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

Speed: "measurement,tags" depends only on the message bytes before the `value` field when
`value` (and `timestamp`) are the last fields, as Snap sends them; it is cached by those bytes
(bounded), so a known series costs one table lookup instead of decoding its tags. The cache has
two generations of at most CACHE_MAX entries and cache_bytes of keys and prefixes (the sandbox's
memory counts): when the young one is full it becomes the old one, and a series found only in
the old one moves back, so a working set that fits in one generation (tag orders count apart:
Snap's come in Go's random map order) is always served, and up to twice that mostly; flushing a
single table instead would miss every time once the set outgrew it.

API:
    local hm = require "stacklight.heka_metric"
    local conv = hm.new{ precision = "ms", excluded_tags = {"plugin_running_on"},
                         static_tags = { cluster = "prod" },
                         cache_bytes = 262144 } -- optional: bytes of keys and prefixes per generation
    local line, reason, detail, skipped = conv:encode(view)
      -- line: the point, or nil with reason "bad_message" | "nan_inf" and a detail string;
      -- skipped: number of NaN/Inf values left out
--]]

local string = require "string"
local math = require "math"
local table = require "table"
local lp = require "stacklight.line_protocol"
local hpb = require "stacklight.heka_protobuf"
local wire = require "stacklight.protobuf_wire"
local int64 = require "stacklight.int64"

local sub, find, byte = string.sub, string.find, string.byte
local sort = table.sort
local floor, huge = math.floor, math.huge
local pairs, ipairs, next, type, setmetatable, tostring = pairs, ipairs, next, type, setmetatable, tostring

local escape_key, escape_measurement = lp.escape_key, lp.escape_measurement
local format_float, escape_string, integer_string = lp.format_float, lp.escape_string, lp.integer_string
local integer_field = lp.integer_field
local parse, first_index, read_names = hpb.parse, hpb.first_index, hpb.names
local udiv_string, int64_string, read_varint64 = int64.udiv_string, int64.string, wire.read_varint64
local header_timestamp = hpb.header_timestamp
local VALUE_NAME, TIMESTAMP_NAME = "\10\5value", "\10\9timestamp"

local M = {}
M.__index = M

M.DIVISORS = { ns = 1, u = 1e3, ms = 1e6, s = 1e9 }
M.CACHE_MAX = 1024 -- per generation: one node sends ~180 keys (89 series, tags in random order)
M.CACHE_BYTES = 256 * 1024 -- per generation, keys and prefixes: long tag values fill it first

local STRING, BYTES, INTEGER, DOUBLE, BOOL = 0, 1, 2, 3, 4
local TWO31 = 2147483648

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
        cache = {}, cache_n = 0, cache_bytes = 0, old = {}, -- the series cache: young and old generations
        cache_max_bytes = opts.cache_bytes or M.CACHE_BYTES,
        t_lo = -1, t_hi = -1, t_str = nil, -- the last converted time
        tail_hits = 0, -- messages encode_raw took from the cache without indexing their fields
    }, M)
end

-- The value of field i as a tag value string (nil if it has none).
local function tag_value(m, i)
    parse(m, i)
    local v = m.value[i]
    if v == nil then return nil end
    local vt = m.vtype[i]
    if vt == STRING or vt == BYTES then return v end
    if vt == INTEGER then return int64_string(m.ilo[i], m.ihi[i]) end
    if vt == DOUBLE then return format_float(v) end
    if vt == BOOL then return v and "true" or "false" end
    return nil
end

-- The line-protocol representation of field i's value; nil, reason when it has none.
local function field_value(m, i)
    parse(m, i)
    local v = m.value[i]
    if v == nil then return nil, "bad_message" end
    local vt = m.vtype[i]
    if vt == DOUBLE then
        return format_float(v) -- nil, "nan_inf" for NaN/Inf
    elseif vt == INTEGER then
        local hi = m.ihi[i]
        if hi == 0 then return integer_field(v) end
        return int64_string(m.ilo[i], hi) .. "i"
    elseif vt == STRING or vt == BYTES then
        return '"' .. escape_string(v) .. '"'
    elseif vt == BOOL then
        return v and "true" or "false"
    end
    return nil, "bad_message"
end

-- Adds the tags named by the STRING array field fi; returns the new count and the highest field
-- index read.
local function add_named_tags(self, m, fi, nk, maxi)
    if not fi then return nk, maxi end
    parse(m, fi)
    if m.vtype[fi] ~= STRING and m.vtype[fi] ~= BYTES then return nk, maxi end
    if fi > maxi then maxi = fi end
    local strings, excluded, static_vals = m.strings, self.excluded, self.static_vals
    local keys, vals = self.keys, self.vals
    local s0 = m.sfirst[fi] - 1
    for k = 1, m.count[fi] do
        local key = strings[s0 + k]
        if key ~= "" and not excluded[key] and not static_vals[key] and not vals[key] then
            local i = first_index(m, key)
            if i then
                if i > maxi then maxi = i end
                local v = tag_value(m, i)
                if v and v ~= "" then
                    nk = nk + 1
                    keys[nk] = key
                    vals[key] = v
                end
            end
        end
    end
    return nk, maxi
end

-- "measurement,k=v,..." and the highest field index it was built from; nil, reason if no name.
local function build_prefix(self, m, ni, di, tfi)
    if not ni then return nil, "no metric name" end
    parse(m, ni)
    local measurement = m.value[ni]
    if (m.vtype[ni] ~= STRING and m.vtype[ni] ~= BYTES) or not measurement or measurement == "" then
        return nil, "no metric name"
    end
    local keys, vals = self.keys, self.vals
    if next(vals) then -- left over by an aborted call
        for k in pairs(vals) do vals[k] = nil end
    end
    local nk, maxi = add_named_tags(self, m, di, 0, ni)
    nk, maxi = add_named_tags(self, m, tfi, nk, maxi)
    local static_keys, static_vals = self.static_keys, self.static_vals
    for k = 1, #static_keys do
        local key = static_keys[k]
        nk = nk + 1
        keys[nk] = key
        vals[key] = static_vals[key]
    end
    for k = nk + 1, #keys do keys[k] = nil end
    if nk > 1 then sort(keys) end
    local prefix = escape_measurement(measurement)
    for k = 1, nk do
        local key = keys[k]
        prefix = prefix .. "," .. escape_key(key) .. "=" .. escape_key(vals[key])
        vals[key] = nil
    end
    return prefix, maxi
end

local function cache_put(self, key, prefix)
    if self.cache_n >= M.CACHE_MAX or self.cache_bytes >= self.cache_max_bytes then
        self.old, self.cache, self.cache_n, self.cache_bytes = self.cache, {}, 0, 0
    end
    self.cache[key] = prefix
    self.cache_n = self.cache_n + 1
    self.cache_bytes = self.cache_bytes + #key + #prefix
end

local function cache_get(self, key)
    local prefix = self.cache[key]
    if not prefix then
        prefix = self.old[key]
        if prefix then cache_put(self, key, prefix) end
    end
    return prefix
end

-- floor(ns / divisor) for the unsigned 64-bit lo/hi, remembering the last result.
local function time_string(self, lo, hi)
    if lo == self.t_lo and hi == self.t_hi then return self.t_str end
    local s = udiv_string(lo, hi, self.divisor)
    self.t_lo, self.t_hi, self.t_str = lo, hi, s
    return s
end

-- The point after its measurement and tags (prefix): the value field vi (or the fields named by
-- the value_fields field vf) and the time, from the timestamp field ti or the Timestamp header.
local function finish(self, m, prefix, vi, ti, vf)
    -- fields
    local fields
    local skipped = 0
    if vf then
        parse(m, vf)
        if m.vtype[vf] ~= STRING and m.vtype[vf] ~= BYTES then
            return nil, "bad_message", "value_fields is not a string array", 0
        end
        local strings, s0 = m.strings, m.sfirst[vf] - 1
        for k = 1, m.count[vf] do
            local fname = strings[s0 + k]
            local i = hpb.last_index(m, fname)
            if not i or fname == "" then
                return nil, "bad_message", "value field " .. tostring(fname) .. " is missing", skipped
            end
            local fv, err = field_value(m, i)
            if fv then
                if fields then
                    fields = fields .. "," .. escape_key(fname) .. "=" .. fv
                else
                    fields = escape_key(fname) .. "=" .. fv
                end
            elseif err == "nan_inf" then
                skipped = skipped + 1
            else
                return nil, "bad_message", "value field " .. fname .. " has no usable value", skipped
            end
        end
    elseif vi then
        local fv, err
        parse(m, vi)
        local v = m.value[vi]
        if v ~= nil and m.vtype[vi] == DOUBLE then
            fv, err = format_float(v) -- field_value's DOUBLE case, without the call
        else
            fv, err = field_value(m, vi)
        end
        if fv then
            fields = fv
        elseif err == "nan_inf" then
            skipped = 1
        else
            return nil, "bad_message", "value has no usable value", 0
        end
    else
        return nil, "bad_message", "no value", 0
    end
    if not fields then
        if skipped > 0 then return nil, "nan_inf", "non-finite value", skipped end
        return nil, "bad_message", "no value", skipped
    end

    -- time
    local ts
    if ti then
        -- Fast path, the layout of Heka's encoders (as in heka_protobuf's parse): name,
        -- value_type INTEGER, an optional short representation, one packed value_integer.
        -- The varint is read in place: no substring, no parse() bookkeeping.
        local raw, p, stop = m.raw, m.fbody[ti], m.fstop[ti]
        local t0, nl = byte(raw, p, p + 1)
        if t0 == 10 and nl and nl < 128 then
            p = p + 2 + nl
            local t1, vt, t2, l = byte(raw, p, p + 3)
            if t2 == 26 and l and l < 128 then -- representation: skip it
                p = p + 2 + l
                t2, l = byte(raw, p + 2, p + 3)
            end
            if t1 == 16 and vt == INTEGER and t2 == 50 and l and l < 128 and p + 4 + l == stop then
                local lo, hi, e = read_varint64(raw, p + 4)
                if lo and e == stop then
                    if hi < TWO31 and (lo > 0 or hi > 0) then ts = time_string(self, lo, hi) end
                    ti = nil -- done: not ts means the header Timestamp, as below
                end
            end
        end
    end
    if ti then
        -- consecutive metrics of one collection share their timestamp field, byte for byte
        local tkey = sub(m.raw, m.fbody[ti], m.fstop[ti] - 1)
        if tkey == self.tkey then
            ts = self.tkey_str
        else
            parse(m, ti)
            local vt = m.vtype[ti]
            if vt == INTEGER then
                local lo, hi = m.ilo[ti], m.ihi[ti]
                if lo and hi < TWO31 and (lo > 0 or hi > 0) then ts = time_string(self, lo, hi) end
            elseif vt == DOUBLE then
                local v = m.value[ti]
                if v and v == v and v > 0 and v < huge then ts = integer_string(floor(v / self.divisor)) end
            end
            self.tkey, self.tkey_str = ts and tkey, ts
        end
    end
    if not ts then
        local lo, hi = header_timestamp(m)
        if not lo or hi >= TWO31 then return nil, "bad_message", "bad Timestamp", skipped end
        ts = time_string(self, lo, hi)
    end
    if vf then return prefix .. " " .. fields .. " " .. ts, nil, nil, skipped end
    return prefix .. " value=" .. fields .. " " .. ts, nil, nil, skipped
end

function M.encode(self, m)
    local n = m.n

    -- measurement and tags: from the cache when value (and timestamp) are the last fields
    local vi, ti, vf
    local prefix, key
    if n >= 2 then
        local raw, fbody = m.raw, m.fbody
        local p = fbody[n]
        if find(raw, TIMESTAMP_NAME, p, true) == p then
            p = fbody[n - 1]
            if n >= 3 and find(raw, VALUE_NAME, p, true) == p then vi, ti = n - 1, n end
        elseif find(raw, VALUE_NAME, p, true) == p then
            vi = n
        end
    end
    if vi then
        key = sub(m.raw, m.estart[1], m.estart[vi] - 1)
        prefix = cache_get(self, key)
    end
    if not prefix then
        local ok, err = read_names(m)
        if not ok then return nil, "bad_message", err, 0 end
        local names = m.name
        local ni, di, tfi
        vi, ti = nil, nil
        for i = n, 1, -1 do
            local nm = names[i]
            if nm == "value" then vi = vi or i
            elseif nm == "timestamp" then ti = ti or i
            elseif nm == "name" then ni = ni or i
            elseif nm == "dimensions" then di = di or i
            elseif nm == "tag_fields" then tfi = tfi or i
            elseif nm == "value_fields" then vf = vf or i
            end
        end
        local maxi
        prefix, maxi = build_prefix(self, m, ni, di, tfi)
        if not prefix then return nil, "bad_message", maxi, 0 end
        -- a hit must mean the same tags: cacheable when no tag came from the value or after it
        if key and not vf and vi and maxi < vi and m.estart[vi] - m.estart[1] == #key then
            cache_put(self, key, prefix)
        end
    end

    return finish(self, m, prefix, vi, ti, vf)
end

-- The last field entry of raw before stop (exclusive) if it is called name (name_entry: its
-- protobuf bytes) and is at most 60 bytes long: its position, or nil. Found by the name, searched
-- from 60 bytes before stop; an earlier look-alike inside a value is skipped by the length check.
local function last_entry(raw, name_entry, stop)
    local from = stop - 60
    while true do
        local q = find(raw, name_entry, from, true)
        if not q or q >= stop then return nil end
        local e = q - 2
        local l = byte(raw, e + 1)
        if e >= 1 and byte(raw, e) == 82 and l < 128 and e + 2 + l == stop then return e end
        from = q + 1
    end
end

--- m:decode(raw) then encode(m), the plugin's path. A message laid out as Snap's (headers, then
--- fields with `value` and `timestamp` last) whose fields before the value are byte for byte
--- those of a cached series is not indexed field by field: its headers are read and checked,
--- then only its last two fields. Its leading fields are the bytes the cached series was parsed
--- from, so they are complete fields again; anything else takes the full path.
function M.encode_raw(self, m, raw)
    local ok, first = m:decode(raw, true)
    if ok and first then
        local stop = #raw + 1
        local t = last_entry(raw, TIMESTAMP_NAME, stop)
        local v = t and last_entry(raw, VALUE_NAME, t)
        local prefix = v and v > first and cache_get(self, sub(raw, first, v - 1))
        if prefix then
            self.tail_hits = self.tail_hits + 1
            local estart, fbody, fstop = m.estart, m.fbody, m.fstop
            m.n = 2
            estart[1], fbody[1], fstop[1] = v, v + 2, t
            estart[2], fbody[2], fstop[2] = t, t + 2, stop
            return finish(self, m, prefix, 1, 2, nil)
        end
        ok, first = m:decode(nil, false, first) -- index the fields too, from where the headers ended
    elseif not ok then
        ok, first = m:decode(raw) -- perhaps a Timestamp after the fields: the full decode decides
    end
    if not ok then return nil, "bad_message", first, 0 end
    return M.encode(self, m)
end

return M
