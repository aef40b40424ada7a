-- This Source Code Form is part of ms-stacklight.
--[[
# stacklight.int64

Exact 64-bit integers in Lua 5.1, whose numbers are doubles (exact only up to 2^53): a value is
kept as its unsigned low and high 32-bit halves lo, hi (what stacklight.protobuf_wire's
read_varint64 returns) and turned into exact decimal strings on demand, e.g. a nanosecond epoch
(~1.7e18) divided down to milliseconds without the double's rounding.

API:
    local int64 = require "stacklight.int64"
    int64.number(lo, hi)           -- the signed value as a (possibly rounded) number
    int64.string(lo, hi)           -- the signed value as an exact decimal string
    int64.udiv_string(lo, hi, d)   -- floor((hi * 2^32 + lo) / d), unsigned, exact decimal; d <= 1e9
--]]

local string = require "string"
local math = require "math"
local lp = require "stacklight.line_protocol"

local format = string.format
local floor, fmod = math.floor, math.fmod
local integer_string = lp.integer_string

local M = {}

local TWO16 = 65536
local TWO21 = 2097152
local TWO31 = 2147483648
local TWO32 = 4294967296
local TWO53 = 9007199254740992

-- (d3 d2 d1 d0) / d, d <= 1e9: quotient digits and remainder, all exact (every intermediate
-- value is below d * 2^16 < 2^53).
local function divmod16(d3, d2, d1, d0, d)
    local q3 = floor(d3 / d)
    local r = d3 - q3 * d
    local c = r * TWO16 + d2
    local q2 = floor(c / d)
    r = c - q2 * d
    c = r * TWO16 + d1
    local q1 = floor(c / d)
    r = c - q1 * d
    c = r * TWO16 + d0
    local q0 = floor(c / d)
    return q3, q2, q1, q0, c - q0 * d
end

-- 2^32 = SPLIT_A[d] * d + SPLIT_B[d] (0 <= SPLIT_B[d] < d), by divisor, computed once.
local SPLIT_A, SPLIT_B = {}, {}

--- floor((hi * 2^32 + lo) / d) as an exact decimal string, for unsigned lo/hi and d <= 1e9.
local function udiv_string(lo, hi, d)
    if hi < TWO21 then -- below 2^53: exact as a double, and so are fmod and the division
        local v = hi * TWO32 + lo
        return integer_string((v - fmod(v, d)) / d)
    end
    -- hi * 2^32 + lo = hi * a * d + (hi * b + lo): when hi * b + lo and the quotient are below
    -- 2^53 (a nanosecond epoch divided down to ms or u), plain double arithmetic is exact and
    -- much cheaper than the base-2^16 long division below.
    local a = SPLIT_A[d]
    if not a then
        a = floor(TWO32 / d)
        local b = TWO32 - a * d
        if b < 0 then a, b = a - 1, b + d elseif b >= d then a, b = a + 1, b - d end
        SPLIT_A[d], SPLIT_B[d] = a, b
    end
    local r = hi * SPLIT_B[d] + lo
    if r < TWO53 then
        -- a rounded product or sum would be >= 2^53, so q < 2^53 means q is exact
        local q = hi * a + (r - fmod(r, d)) / d
        if q < TWO53 then return integer_string(q) end
    end
    local q3, q2, q1, q0 = divmod16(floor(hi / TWO16), hi % TWO16, floor(lo / TWO16), lo % TWO16, d)
    if q3 < 32 then -- the quotient is below 2^53
        return integer_string(((q3 * TWO16 + q2) * TWO16 + q1) * TWO16 + q0)
    end
    local p3, p2, p1, p0, rem = divmod16(q3, q2, q1, q0, 1e9)
    return format("%.0f%09.0f", ((p3 * TWO16 + p2) * TWO16 + p1) * TWO16 + p0, rem)
end
M.udiv_string = udiv_string

--- Exact decimal of the signed 64-bit value hi:lo (two's complement).
function M.string(lo, hi)
    if hi == 0 then return integer_string(lo) end
    if hi < TWO31 then return udiv_string(lo, hi, 1) end
    if lo == 0 then -- magnitude = 2^64 - value
        return "-" .. udiv_string(0, TWO32 - hi, 1)
    end
    return "-" .. udiv_string(TWO32 - lo, TWO32 - 1 - hi, 1)
end

--- The signed 64-bit value hi:lo as a number (one rounding beyond 2^53, as C's (double) cast).
function M.number(lo, hi)
    if hi == 0 then return lo end
    if hi < TWO31 then return hi * TWO32 + lo end
    return (hi - TWO32) * TWO32 + lo
end

return M
