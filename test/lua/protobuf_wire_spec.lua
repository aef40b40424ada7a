-- busted spec: stacklight.protobuf_wire (varints, doubles, skipping entries)
local F = require "fake_hindsight"
local wire = require "stacklight.protobuf_wire"
local int64 = require "stacklight.int64"

local enc = F.encoder

-- A random decimal integer in [-2^63, 2^63).
local function random_i64()
    local s
    repeat
        s = tostring(math.random(1, 9))
        for _ = 1, math.random(0, 18) do s = s .. tostring(math.random(0, 9)) end
    until #s < 19 or s <= "9223372036854775807"
    if math.random() < 0.3 then s = "-" .. s end
    return s
end

describe("protobuf_wire varints", function()
    it("reads small varints (up to 35 bits) and where they end", function()
        for _, v in ipairs({ 0, 1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455, 268435456, 2 ^ 35 - 1 }) do
            local s = "x" .. enc.varint(v) .. "y"
            local got, after = wire.read_small(s, 2)
            assert.are.equal(v, got)
            assert.are.equal("y", s:sub(after, after))
        end
        assert.is_nil(wire.read_small(enc.varint(2 ^ 35), 1)) -- six bytes: not a small varint
        assert.is_nil(wire.read_small("\128\128", 1)) -- truncated
        assert.is_nil(wire.read_small("", 1))
    end)

    it("reads any int64 as exact 32-bit halves", function()
        math.randomseed(17)
        local values = { "0", "1", "4294967295", "4294967296", "9007199254740993", "9223372036854775807",
            "-1", "-4294967296", "-9223372036854775808" }
        for _ = 1, 2000 do values[#values + 1] = random_i64() end
        for _, v in ipairs(values) do
            local s = enc.varint(v)
            local lo, hi, after = wire.read_varint64(s, 1)
            assert.are.equal(#s + 1, after)
            assert.is_true(lo >= 0 and lo < 2 ^ 32 and hi >= 0 and hi < 2 ^ 32)
            assert.are.equal(v, int64.string(lo, hi))
        end
    end)

    it("keeps only bit 63 of a 10th byte, refuses an 11th and a truncated varint", function()
        local nine = string.rep("\255", 9)
        local lo, hi, after = wire.read_varint64(nine .. "\127", 1) -- C shifts the other bits out
        assert.are.same({ 2 ^ 32 - 1, 2 ^ 32 - 1, 11 }, { lo, hi, after })
        lo, hi = wire.read_varint64(nine .. "\126", 1)
        assert.are.same({ 2 ^ 32 - 1, 2 ^ 31 - 1 }, { lo, hi })
        assert.is_nil(wire.read_varint64(nine .. "\128\1", 1))
        for cut = 0, 9 do assert.is_nil(wire.read_varint64(string.rep("\128", cut), 1)) end
    end)
end)

describe("protobuf_wire doubles", function()
    it("reads doubles bit for bit, at any position", function()
        math.randomseed(3)
        local values = { 0, -0.0, 1, -1, 0.1, 1e308, -1e-308, 4.9406564584124654e-324, math.huge, -math.huge }
        for _ = 1, 500 do values[#values + 1] = (math.random() - 0.5) * 10 ^ math.random(-300, 300) end
        for _, v in ipairs(values) do
            local got = wire.read_double("ab" .. enc.double_bytes(v), 3)
            assert.are.equal(v, got)
            assert.are.equal(1 / v, 1 / got) -- the sign of zero too
            assert.are.equal(v, wire.double_of(enc.double_bytes(v):byte(1, 8)))
        end
        local nan = wire.read_double(enc.double_bytes(0 / 0), 1)
        assert.are_not.equal(nan, nan)
        assert.is_nil(wire.read_double("1234567", 1))
    end)
end)

describe("protobuf_wire skip_entry", function()
    -- an entry (key then value) at position 2 of "\0" .. entry .. "z": the position of "z"
    local function skip(entry, stop)
        local s = "\0" .. entry .. "z"
        return wire.skip_entry(s, 3, s:byte(2), stop or #s), #entry + 2
    end

    it("skips every wire type", function()
        for _, entry in ipairs({
            "\8" .. enc.varint("-1"),               -- varint (10 bytes)
            "\9" .. string.rep("\1", 8),            -- 64-bit
            "\10\3abc",                             -- length-delimited
            "\13" .. string.rep("\1", 4),           -- 32-bit
            "\168\6" .. enc.varint(300),            -- field 101 (a two-byte key), varint
        }) do
            local got, expected = skip(entry)
            assert.are.equal(expected, got)
        end
    end)

    it("refuses groups, bad wire types, truncated values and values past stop", function()
        assert.is_nil((skip("\11\1"))) -- wire type 3 (start group)
        assert.is_nil((skip("\14\1"))) -- wire type 6
        assert.is_nil((skip("\8\128")))
        assert.is_nil((skip("\10\5abc", 6)))
        assert.is_nil((skip("\9\1\1\1", 5)))
        assert.is_nil((skip("\168\128\128\128\128\1\1"))) -- a key longer than 5 bytes
    end)
end)

describe("protobuf_wire", function()
    it("defines no globals", function()
        local before = {}
        for k in pairs(_G) do before[k] = true end
        package.loaded["stacklight.protobuf_wire"] = nil
        require "stacklight.protobuf_wire"
        for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
    end)
end)
