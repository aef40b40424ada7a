-- This Source Code Form is part of ms-stacklight.
--[[
# stacklight.protobuf_wire

The protobuf wire format, read from a Lua string at 1-based positions, in plain Lua 5.1 (no
bit library): varints, little-endian doubles, skipping an entry. Nothing here raises on
malformed input: every reader returns nil when the bytes do not make a value.

64-bit varints are returned as their low and high 32-bit halves (both exact doubles), so that
nothing is lost beyond 2^53; stacklight.int64 turns such halves into numbers and exact decimal
strings.

API:
    local wire = require "stacklight.protobuf_wire"
    wire.read_small(s, pos)        -- a varint of at most 35 bits (lengths, tags, enums):
                                   -- value, next position
    wire.read_varint64(s, pos)     -- any varint: lo, hi (unsigned 32-bit halves), next position;
                                   -- the 10th byte keeps only bit 63, as C's shift does
    wire.double_of(b1, ..., b8)    -- the double of 8 little-endian bytes (already read)
    wire.read_double(s, pos)       -- the double at s[pos..pos+7]
    wire.skip_entry(s, pos, tag, stop) -- the position after the value of the entry whose first
                                   -- tag byte (tag) was at pos-1; nil if malformed or past stop
--]]

local string = require "string"
local math = require "math"

local byte = string.byte
local floor, ldexp, huge = math.floor, math.ldexp, math.huge

local M = {}

local TWO28 = 268435456
local TWO31 = 2147483648
local TWO32 = 4294967296
local TWO52 = 4503599627370496

-- A varint of at most 35 bits (lengths, enums): value, next position; nil if malformed.
local function read_small(raw, pos)
    local b1, b2, b3, b4, b5 = byte(raw, pos, pos + 4)
    if not b1 then return nil end
    if b1 < 128 then return b1, pos + 1 end
    if not b2 then return nil end
    if b2 < 128 then return b1 - 128 + b2 * 128, pos + 2 end
    if not b3 then return nil end
    if b3 < 128 then return b1 - 128 + (b2 - 128) * 128 + b3 * 16384, pos + 3 end
    if not b4 then return nil end
    if b4 < 128 then return b1 - 128 + (b2 - 128) * 128 + (b3 - 128) * 16384 + b4 * 2097152, pos + 4 end
    if not b5 or b5 >= 128 then return nil end
    return b1 - 128 + (b2 - 128) * 128 + (b3 - 128) * 16384 + (b4 - 128) * 2097152 + b5 * TWO28, pos + 5
end
M.read_small = read_small

-- A 64-bit varint as its low and high 32-bit halves (exact doubles): lo, hi, next position.
local function read_varint64(raw, pos)
    local b1, b2, b3, b4, b5, b6, b7, b8, b9, b10 = byte(raw, pos, pos + 9)
    if not b1 then return nil end
    if b1 < 128 then return b1, 0, pos + 1 end
    local lo = b1 - 128
    if not b2 then return nil end
    if b2 < 128 then return lo + b2 * 128, 0, pos + 2 end
    lo = lo + (b2 - 128) * 128
    if not b3 then return nil end
    if b3 < 128 then return lo + b3 * 16384, 0, pos + 3 end
    lo = lo + (b3 - 128) * 16384
    if not b4 then return nil end
    if b4 < 128 then return lo + b4 * 2097152, 0, pos + 4 end
    lo = lo + (b4 - 128) * 2097152
    if not b5 then return nil end
    local more = b5 >= 128
    if more then b5 = b5 - 128 end
    lo = lo + (b5 % 16) * TWO28
    local hi = floor(b5 / 16)
    if not more then return lo, hi, pos + 5 end
    if not b6 then return nil end
    if b6 < 128 then return lo, hi + b6 * 8, pos + 6 end
    hi = hi + (b6 - 128) * 8
    if not b7 then return nil end
    if b7 < 128 then return lo, hi + b7 * 1024, pos + 7 end
    hi = hi + (b7 - 128) * 1024
    if not b8 then return nil end
    if b8 < 128 then return lo, hi + b8 * 131072, pos + 8 end
    hi = hi + (b8 - 128) * 131072
    if not b9 then return nil end
    if b9 < 128 then return lo, hi + b9 * 16777216, pos + 9 end
    hi = hi + (b9 - 128) * 16777216
    if not b10 or b10 >= 128 then return nil end
    return lo, (hi + b10 * TWO31) % TWO32, pos + 10
end
M.read_varint64 = read_varint64

-- Position after the value of an entry whose tag byte is at pos-1 (tag given); nil if malformed.
function M.skip_entry(raw, pos, tag, stop)
    if tag >= 128 then -- a multi-byte tag: skip its remaining bytes
        local b
        for _ = 1, 4 do
            b = byte(raw, pos)
            if not b then return nil end
            pos = pos + 1
            if b < 128 then break end
        end
        if b >= 128 then return nil end
    end
    local wt = tag % 8
    if wt == 0 then
        local _, _, p = read_varint64(raw, pos)
        pos = p
        if not pos then return nil end
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
    if pos > stop then return nil end
    return pos
end

local function double_of(b1, b2, b3, b4, b5, b6, b7, b8)
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
M.double_of = double_of

--- The little-endian IEEE 754 double at raw[pos..pos+7].
function M.read_double(raw, pos)
    local b1, b2, b3, b4, b5, b6, b7, b8 = byte(raw, pos, pos + 7)
    if not b8 then return nil end
    return double_of(b1, b2, b3, b4, b5, b6, b7, b8)
end

return M
