-- This Source Code Form is part of ms-stacklight.
--[[
# stacklight.heka_protobuf

Decodes a raw Heka message (the protobuf string of `read_message("raw")`, without stream
framing) into a reusable, flat view, keeping what the sandbox API loses:
- 64-bit integers exactly: the header Timestamp and INTEGER field values are kept as their
  low/high 32-bit halves, and converted to exact decimal strings on demand (`read_message`
  returns doubles, which are exact only up to 2^53, while a nanosecond epoch is ~1.7e18);
- the value type of every field (INTEGER vs DOUBLE: both are Lua numbers after read_message);
- every occurrence of a repeated field name (Snap sends two `name` fields when a dynamic
  namespace element is itself called `name`): `first[name]` and `last[name]` index them.

Wire format: mozilla-services/heka message/message.proto (Message fields 1-10, Field fields 1-8;
value_integer/value_double/value_bool accepted packed and unpacked). Unknown fields are skipped.
decode() never raises on malformed input: it returns nil and a reason.

API:
    local hpb = require "stacklight.heka_protobuf"
    local m = hpb.new()            -- one view, reused for every message
    local ok, err = m:decode(raw)
    m.type, m.logger, m.hostname   -- headers (nil when absent)
    m.n                            -- number of fields
    m.name[i], m.vtype[i]          -- 0 STRING, 1 BYTES, 2 INTEGER, 3 DOUBLE, 4 BOOL
    m.count[i], m.value[i]         -- number of values, first value (string/number/boolean)
    m.first[name], m.last[name]    -- index of the first/last field with that name
    m.strings[m.sfirst[i] + k - 1] -- the k-th value (k <= m.count[i]) of STRING/BYTES field i
    m:integer_string(i)            -- exact int64 decimal of the first value of INTEGER field i
    m:field_time(i, divisor)       -- floor(value / divisor) of INTEGER field i, exact, as a string
    m:header_time(divisor)         -- floor(Timestamp / divisor), exact, as a string
--]]

local string = require "string"
local math = require "math"

local byte, sub, format = string.byte, string.sub, string.format
local floor, fmod, ldexp, huge = math.floor, math.fmod, math.ldexp, math.huge
local setmetatable, type = setmetatable, type

local M = {}
M.__index = M

local TWO16 = 65536
local TWO21 = 2097152
local TWO28 = 268435456
local TWO31 = 2147483648
local TWO32 = 4294967296
local TWO52 = 4503599627370496

M.STRING, M.BYTES, M.INTEGER, M.DOUBLE, M.BOOL = 0, 1, 2, 3, 4

-- Varints ------------------------------------------------------------------------------------

-- A varint that fits in 35 bits (lengths, enums); returns value, next position or nil.
local function read_small(raw, pos)
    local b = byte(raw, pos)
    if not b then return nil end
    if b < 128 then return b, pos + 1 end
    local v, mult = b - 128, 128
    pos = pos + 1
    for _ = 1, 4 do
        b = byte(raw, pos)
        if not b then return nil end
        pos = pos + 1
        if b < 128 then return v + b * mult, pos end
        v = v + (b - 128) * mult
        mult = mult * 128
    end
    return nil
end

-- A 64-bit varint as its low and high 32-bit halves (exact doubles); returns lo, hi, next pos.
local function read_varint64(raw, pos)
    local b = byte(raw, pos)
    if not b then return nil end
    if b < 128 then return b, 0, pos + 1 end
    local lo, mult = b - 128, 128
    pos = pos + 1
    for _ = 1, 3 do -- bytes 2..4: bits 7..27
        b = byte(raw, pos)
        if not b then return nil end
        pos = pos + 1
        if b < 128 then return lo + b * mult, 0, pos end
        lo = lo + (b - 128) * mult
        mult = mult * 128
    end
    b = byte(raw, pos) -- byte 5: bits 28..34
    if not b then return nil end
    pos = pos + 1
    local more = b >= 128
    if more then b = b - 128 end
    lo = lo + (b % 16) * TWO28
    local hi = floor(b / 16)
    if not more then return lo, hi, pos end
    mult = 8
    for _ = 1, 5 do -- bytes 6..10: bits 35..63
        b = byte(raw, pos)
        if not b then return nil end
        pos = pos + 1
        if b < 128 then return lo, (hi + b * mult) % TWO32, pos end
        hi = hi + (b - 128) * mult
        mult = mult * 128
    end
    return nil
end
M.read_varint64 = read_varint64

local function skip_value(raw, pos, tag, len)
    if tag >= 128 then -- a multi-byte tag: skip its remaining bytes
        local b
        repeat
            b = byte(raw, pos)
            if not b then return nil end
            pos = pos + 1
        until b < 128
    end
    local wt = tag % 8
    if wt == 0 then
        local b
        for _ = 1, 10 do
            b = byte(raw, pos)
            if not b then return nil end
            pos = pos + 1
            if b < 128 then return pos end
        end
        return nil
    elseif wt == 1 then
        pos = pos + 8
    elseif wt == 2 then
        local l
        l, pos = read_small(raw, pos)
        if not l then return nil end
        pos = pos + l
    elseif wt == 5 then
        pos = pos + 4
    else
        return nil
    end
    if pos > len + 1 then return nil end
    return pos
end

local function read_double(raw, pos)
    local b1, b2, b3, b4, b5, b6, b7, b8 = byte(raw, pos, pos + 7)
    if not b8 then return nil end
    local sign = 1
    if b8 >= 128 then sign, b8 = -1, b8 - 128 end
    local e = b8 * 16 + floor(b7 / 16)
    local mant = ((((((b7 % 16) * 256 + b6) * 256 + b5) * 256 + b4) * 256 + b3) * 256 + b2) * 256 + b1
    if e == 0 then
        if mant == 0 then return sign * 0 end
        return sign * ldexp(mant, -1074)
    elseif e == 2047 then
        if mant == 0 then return sign * huge end
        return 0 / 0
    end
    return sign * ldexp(mant + TWO52, e - 1075)
end
M.read_double = read_double

-- Exact 64-bit arithmetic on base-2^16 digits ---------------------------------------------------

-- (d3 d2 d1 d0) / d with d <= 1e9: quotient digits and remainder, all exact.
local function divmod16(d3, d2, d1, d0, d)
    local c = d3
    local q3 = floor(c / d)
    local r = c - q3 * d
    c = r * TWO16 + d2
    local q2 = floor(c / d)
    r = c - q2 * d
    c = r * TWO16 + d1
    local q1 = floor(c / d)
    r = c - q1 * d
    c = r * TWO16 + d0
    local q0 = floor(c / d)
    r = c - q0 * d
    return q3, q2, q1, q0, r
end

-- Decimal string of the unsigned value (d3 d2 d1 d0).
local function decimal16(d3, d2, d1, d0)
    if d3 < 32 then -- < 2^53: exact as a double
        return format("%.0f", ((d3 * TWO16 + d2) * TWO16 + d1) * TWO16 + d0)
    end
    local q3, q2, q1, q0, r = divmod16(d3, d2, d1, d0, 1e9)
    return format("%.0f%09.0f", ((q3 * TWO16 + q2) * TWO16 + q1) * TWO16 + q0, r)
end

--- floor((hi * 2^32 + lo) / d) as an exact decimal string, for unsigned lo/hi and d <= 1e9.
local function udiv_string(lo, hi, d)
    if hi < TWO21 then -- the value is below 2^53: exact as a double
        local v = hi * TWO32 + lo
        return format("%.0f", (v - fmod(v, d)) / d)
    end
    local q3, q2, q1, q0 = divmod16(floor(hi / TWO16), hi % TWO16, floor(lo / TWO16), lo % TWO16, d)
    return decimal16(q3, q2, q1, q0)
end
M.udiv_string = udiv_string

--- Exact decimal of the signed 64-bit value hi:lo (two's complement).
local function int64_string(lo, hi)
    if hi == 0 then return format("%.0f", lo) end
    if hi < TWO31 then return udiv_string(lo, hi, 1) end
    -- negative: magnitude = 2^64 - value
    local mlo, mhi
    if lo == 0 then
        mlo, mhi = 0, (TWO32 - hi) % TWO32
    else
        mlo, mhi = TWO32 - lo, TWO32 - 1 - hi
    end
    return "-" .. udiv_string(mlo, mhi, 1)
end
M.int64_string = int64_string

local function int64_number(lo, hi)
    if hi == 0 then return lo end
    if hi < TWO31 then return hi * TWO32 + lo end
    return (hi - TWO32) * TWO32 + lo
end

-- The view -------------------------------------------------------------------------------------

function M.new()
    return setmetatable({
        n = 0,
        name = {}, vtype = {}, count = {}, value = {}, ilo = {}, ihi = {}, sfirst = {},
        strings = {}, nstrings = 0,
        first = {}, last = {},
        ts_lo = nil, ts_hi = nil,
        type = nil, logger = nil, hostname = nil,
    }, M)
end

-- Parses one Field submessage in raw[pos, stop) and appends it to the view.
local function parse_field(self, raw, pos, stop, len)
    local name, vtype = nil, 0
    local s1, scount = nil, 0
    local ilo, ihi, icount = nil, nil, 0
    local d1, dcount = nil, 0
    local b1, bcount = nil, 0
    local strings = self.strings
    local ns = self.nstrings
    local sfirst = ns + 1
    local l, b
    while pos < stop do
        local tag = byte(raw, pos)
        pos = pos + 1
        if tag == 10 then -- name
            l, pos = read_small(raw, pos)
            if not l then return nil, "bad field name" end
            name = sub(raw, pos, pos + l - 1)
            pos = pos + l
        elseif tag == 16 then -- value_type
            vtype, pos = read_small(raw, pos)
            if not vtype then return nil, "bad value_type" end
        elseif tag == 34 or tag == 42 then -- value_string, value_bytes
            l, pos = read_small(raw, pos)
            if not l then return nil, "bad string value" end
            local s = sub(raw, pos, pos + l - 1)
            pos = pos + l
            scount = scount + 1
            if scount == 1 then s1 = s end
            ns = ns + 1
            strings[ns] = s
        elseif tag == 50 then -- value_integer, packed
            l, pos = read_small(raw, pos)
            if not l then return nil, "bad integer array" end
            local e = pos + l
            if l > 0 then
                if icount == 0 then
                    ilo, ihi = read_varint64(raw, pos)
                    if not ilo then return nil, "bad integer value" end
                end
                for p = pos, e - 1 do
                    b = byte(raw, p)
                    if not b then return nil, "truncated integer array" end
                    if b < 128 then icount = icount + 1 end
                end
            end
            pos = e
        elseif tag == 48 then -- value_integer, unpacked
            local lo, hi
            lo, hi, pos = read_varint64(raw, pos)
            if not lo then return nil, "bad integer value" end
            icount = icount + 1
            if icount == 1 then ilo, ihi = lo, hi end
        elseif tag == 58 then -- value_double, packed
            l, pos = read_small(raw, pos)
            if not l then return nil, "bad double array" end
            if l >= 8 and dcount == 0 then
                d1 = read_double(raw, pos)
                if not d1 then return nil, "truncated double" end
            end
            dcount = dcount + floor(l / 8)
            pos = pos + l
        elseif tag == 57 then -- value_double, unpacked
            dcount = dcount + 1
            if dcount == 1 then
                d1 = read_double(raw, pos)
                if not d1 then return nil, "truncated double" end
            end
            pos = pos + 8
        elseif tag == 66 then -- value_bool, packed
            l, pos = read_small(raw, pos)
            if not l then return nil, "bad bool array" end
            if l > 0 and bcount == 0 then
                b = byte(raw, pos)
                if not b then return nil, "truncated bool" end
                b1 = b ~= 0
            end
            bcount = bcount + l
            pos = pos + l
        elseif tag == 64 then -- value_bool, unpacked
            local v
            v, pos = read_small(raw, pos)
            if not v then return nil, "bad bool value" end
            bcount = bcount + 1
            if bcount == 1 then b1 = v ~= 0 end
        else -- representation and unknown fields
            pos = skip_value(raw, pos, tag, len)
            if not pos then return nil, "malformed field" end
        end
    end
    if pos ~= stop then return nil, "field overruns its length" end
    if not name then return nil, "field without a name" end

    local i = self.n + 1
    self.n = i
    self.name[i] = name
    self.vtype[i] = vtype
    if vtype == 0 or vtype == 1 then
        self.value[i] = s1
        self.count[i] = scount
        self.sfirst[i] = sfirst
    elseif vtype == 2 then
        self.value[i] = ilo and int64_number(ilo, ihi)
        self.count[i] = icount
        self.ilo[i], self.ihi[i] = ilo, ihi
    elseif vtype == 3 then
        self.value[i] = d1
        self.count[i] = dcount
    elseif vtype == 4 then
        self.value[i] = b1
        self.count[i] = bcount
    else
        return nil, "unknown value_type " .. vtype
    end
    self.nstrings = ns
    local first = self.first
    if not first[name] then first[name] = i end
    self.last[name] = i
    return true
end

--- Decodes raw into the view. Returns true, or nil and a reason.
function M.decode(self, raw)
    local names, first, last = self.name, self.first, self.last
    for i = 1, self.n do
        local nm = names[i]
        first[nm] = nil
        last[nm] = nil
    end
    self.n = 0
    self.nstrings = 0
    self.ts_lo, self.ts_hi = nil, nil
    self.type, self.logger, self.hostname = nil, nil, nil

    if type(raw) ~= "string" then return nil, "no message" end
    local len = #raw
    local pos = 1
    local l, ok, err
    while pos <= len do
        local tag = byte(raw, pos)
        pos = pos + 1
        if tag == 82 then -- Fields
            l, pos = read_small(raw, pos)
            if not l or pos + l - 1 > len then return nil, "truncated field" end
            ok, err = parse_field(self, raw, pos, pos + l, len)
            if not ok then return nil, err end
            pos = pos + l
        elseif tag == 16 then -- Timestamp
            local lo, hi
            lo, hi, pos = read_varint64(raw, pos)
            if not lo then return nil, "bad Timestamp" end
            self.ts_lo, self.ts_hi = lo, hi
        elseif tag == 26 or tag == 34 or tag == 74 then -- Type, Logger, Hostname
            l, pos = read_small(raw, pos)
            if not l or pos + l - 1 > len then return nil, "truncated header" end
            local s = sub(raw, pos, pos + l - 1)
            pos = pos + l
            if tag == 26 then
                self.type = s
            elseif tag == 34 then
                self.logger = s
            else
                self.hostname = s
            end
        else
            pos = skip_value(raw, pos, tag, len)
            if not pos then return nil, "malformed message" end
        end
    end
    if not self.ts_lo then return nil, "missing Timestamp" end
    return true
end

--- Exact int64 decimal string of the first value of INTEGER field i (nil if none).
function M.integer_string(self, i)
    local lo = self.ilo[i]
    if self.vtype[i] ~= 2 or not lo then return nil end
    return int64_string(lo, self.ihi[i])
end

--- floor(value / divisor) of INTEGER field i as an exact decimal string; nil if the field is not
--- a non-negative integer.
function M.field_time(self, i, divisor)
    local lo, hi = self.ilo[i], self.ihi[i]
    if self.vtype[i] ~= 2 or not lo or hi >= TWO31 then return nil end
    return udiv_string(lo, hi, divisor)
end

--- floor(Timestamp / divisor) as an exact decimal string; nil for a negative Timestamp.
function M.header_time(self, divisor)
    local lo, hi = self.ts_lo, self.ts_hi
    if not lo or hi >= TWO31 then return nil end
    return udiv_string(lo, hi, divisor)
end

--- The Timestamp header as a (possibly rounded) number of nanoseconds.
function M.timestamp(self)
    if not self.ts_lo then return nil end
    return int64_number(self.ts_lo, self.ts_hi)
end

return M
