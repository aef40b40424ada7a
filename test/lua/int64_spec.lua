-- busted spec: stacklight.int64 (exact 64-bit integers from 32-bit halves)
require "fake_hindsight" -- sets package.path to lua/modules
local int64 = require "stacklight.int64"

local TWO32 = 4294967296

-- The halves of a decimal int64 (two's complement), computed independently of the module: by
-- the tests' encoder, which folds the decimal digits into base-2^16 digits.
local halves = require("heka_encoder").halves

-- floor(v / 10^k) of a non-negative decimal string: drop the last k digits.
local function decimal_div(v, k)
    if k == 0 then return v end
    if #v <= k then return "0" end
    return v:sub(1, #v - k)
end

-- A random decimal integer in [0, 2^63).
local function random_u63()
    local s
    repeat
        s = tostring(math.random(1, 9))
        for _ = 1, math.random(0, 18) do s = s .. tostring(math.random(0, 9)) end
    until #s < 19 or s <= "9223372036854775807"
    return s
end

describe("int64", function()
    it("writes signed values exactly, extremes included", function()
        for _, v in ipairs({ "0", "1", "127", "4294967295", "4294967296", "9007199254740993",
            "9223372036854775807", "-1", "-128", "-4294967296", "-4294967297", "-9223372036854775808" }) do
            assert.are.equal(v, int64.string(halves(v)))
        end
    end)

    it("divides random 64-bit values exactly at every precision", function()
        math.randomseed(7)
        for _ = 1, 2000 do
            local v = random_u63()
            local lo, hi = halves(v)
            assert.are.equal(v, int64.udiv_string(lo, hi, 1))
            assert.are.equal(decimal_div(v, 3), int64.udiv_string(lo, hi, 1e3))
            assert.are.equal(decimal_div(v, 6), int64.udiv_string(lo, hi, 1e6))
            assert.are.equal(decimal_div(v, 9), int64.udiv_string(lo, hi, 1e9))
        end
    end)

    it("divides unsigned values above 2^63 and by other divisors", function()
        assert.are.equal("18446744073709551615", int64.udiv_string(TWO32 - 1, TWO32 - 1, 1))
        assert.are.equal("18446744073709551", int64.udiv_string(TWO32 - 1, TWO32 - 1, 1000))
        assert.are.equal("2635249153387078802", int64.udiv_string(TWO32 - 1, TWO32 - 1, 7))
    end)

    it("converts to a number with one rounding, as C's (double) cast", function()
        assert.are.equal(5, int64.number(5, 0))
        assert.are.equal(2 ^ 53, int64.number(halves("9007199254740993"))) -- ties to even
        assert.are.equal(2 ^ 53 + 4, int64.number(halves("9007199254740995"))) -- ties to even
        assert.are.equal(-1, int64.number(halves("-1")))
        assert.are.equal(-2 ^ 63, int64.number(halves("-9223372036854775808")))
        assert.are.equal(1700000000123456768, int64.number(halves("1700000000123456789")))
    end)

    it("defines no globals", function()
        local before = {}
        for k in pairs(_G) do before[k] = true end
        package.loaded["stacklight.int64"] = nil
        require "stacklight.int64"
        for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
    end)
end)
