-- busted spec: stacklight.line_protocol (InfluxDB 1.x line protocol encoder)
require "fake_hindsight" -- sets package.path to lua/modules
local lp = require "stacklight.line_protocol"

describe("the Lua runtime", function()
    it("is Lua 5.1, like lua_sandbox", function()
        assert.are.equal("Lua 5.1", _VERSION)
    end)
end)

describe("line_protocol escaping", function()
    it("escapes commas and spaces in measurements, not '='", function()
        assert.are.equal([[cpu\,total\ load=x]], lp.escape_measurement("cpu,total load=x"))
    end)

    it("escapes a leading '#' of a measurement (a comment line otherwise)", function()
        assert.are.equal([[\#m]], lp.escape_measurement("#m"))
        assert.are.equal("a#b", lp.escape_measurement("a#b"))
    end)

    it("escapes commas, spaces and '=' in tag keys, tag values and field keys", function()
        assert.are.equal([[a\,b\ c\=d]], lp.escape_key("a,b c=d"))
    end)

    it("keeps a lone backslash but doubles one before an escaped character or at the end", function()
        assert.are.equal([[C:\path]], lp.escape_key([[C:\path]]))
        assert.are.equal([[C:\\]], lp.escape_key([[C:\]]))
        assert.are.equal([[a\\\,b]], lp.escape_key([[a\,b]]))
        assert.are.equal([[x\\\ y]], lp.escape_measurement([[x\ y]]))
    end)

    it("turns CR and LF into escaped spaces outside string values", function()
        assert.are.equal([[a\ b\ c]], lp.escape_key("a\nb\rc"))
    end)

    it("escapes quotes and backslashes in string field values only", function()
        assert.are.equal([[say \"hi\" \\ ,= ]], lp.escape_string([[say "hi" \ ,= ]]))
        assert.are.equal([["a\"b"]], lp.format_string('a"b'))
    end)

    it("keeps non-ASCII UTF-8 unchanged", function()
        local s = "température_été,ключ=значение 日本"
        assert.are.equal("température_été\\,ключ=значение\\ 日本", lp.escape_measurement(s))
        local line = lp.encode("mesure", { ["hôte"] = "nœud" }, { valeur = "ümlaut" }, 1)
        assert.are.equal('mesure,hôte=nœud valeur="ümlaut" 1', line)
    end)
end)

describe("line_protocol values", function()
    it("formats integers with the i suffix, numbers or exact decimal strings", function()
        assert.are.equal("123i", lp.format_integer(123))
        assert.are.equal("-5i", lp.format_integer(-5))
        assert.are.equal("0i", lp.format_integer(0))
        assert.are.equal("1700000000123i", lp.format_integer(1700000000123))
        assert.are.equal("9223372036854775807i", lp.format_integer("9223372036854775807"))
        assert.are.equal("-9223372036854775808i", lp.format_integer("-9223372036854775808"))
        assert.are.equal("42i", lp.format_integer("0042"))
    end)

    it("refuses integers outside int64 and non-integral values", function()
        assert.is_nil(lp.format_integer("9223372036854775808"))
        assert.is_nil(lp.format_integer("-9223372036854775809"))
        assert.is_nil(lp.format_integer(2 ^ 63))
        assert.is_nil(lp.format_integer(1.5))
        assert.is_nil(lp.format_integer("12a"))
        assert.are.equal("-9223372036854775808i", lp.format_integer(-2 ^ 63))
    end)

    it("prints integral numbers exactly, with and without the integer suffix", function()
        assert.are.equal("%d", lp.INT_FORMAT) -- a 64-bit C long here, as where Hindsight runs
        local cases = {
            { 0, "0" }, { -1, "-1" }, { 999, "999" }, { 1000000, "1000000" }, { 1700000000123, "1700000000123" },
            { 2 ^ 53 - 1, "9007199254740991" }, { -(2 ^ 53 - 1), "-9007199254740991" },
            { 2 ^ 53, "9007199254740992" }, { 1e20, "100000000000000000000" }, { -2 ^ 63, "-9223372036854775808" },
        }
        for _, case in ipairs(cases) do
            assert.are.equal(case[2], lp.integer_string(case[1]))
            assert.are.equal(case[2] .. "i", lp.integer_field(case[1]))
        end
        math.randomseed(7)
        for _ = 1, 2000 do
            local v = math.floor((math.random() - 0.5) * 2 ^ math.random(1, 60))
            assert.are.equal(string.format("%.0f", v), lp.integer_string(v))
        end
    end)

    it("formats floats with the shortest round-tripping representation", function()
        assert.are.equal("0.1", lp.format_float(0.1))
        assert.are.equal("775.459", lp.format_float(775.459))
        assert.are.equal("0.30000000000000004", lp.format_float(0.1 + 0.2))
        assert.are.equal("0.7999999999999999", lp.format_float(0.1 + 0.7)) -- 16 digits, not 17
        assert.are.equal("5", lp.format_float(5.0))
        assert.are.equal("-2.5", lp.format_float(-2.5))
        assert.are.equal("1e+20", lp.format_float(1e20))
        assert.are.equal("1.7976931348623157e+308", lp.format_float(1.7976931348623157e308))
        local tiny = 4.9406564584124654e-324 -- the smallest subnormal still reads back exactly
        assert.are.equal(tiny, tonumber(lp.format_float(tiny)))
    end)

    it("writes what the plain search (15, else 16, else 17 digits) writes, short decimals included", function()
        local format = string.format
        local function plain(v)
            for _, digits in ipairs({ "%.15g", "%.16g" }) do
                local s = format(digits, v)
                if tonumber(s) == v then return s end
            end
            return format("%.17g", v)
        end
        math.randomseed(11)
        for _ = 1, 20000 do
            local decimals = math.random(0, 9)
            local short = math.floor((math.random() - 0.5) * 10 ^ math.random(1, 12)) / 10 ^ decimals
            local long = (math.random() - 0.5) * 10 ^ math.random(-12, 12)
            for _, v in ipairs({ short, long, short * 3.3 }) do
                if v ~= math.floor(v) then assert.are.equal(plain(v), lp.format_float(v)) end
            end
        end
        assert.are.equal("775.4590000001", lp.format_float(775.4590000001))
        assert.are.equal("-999999999.999999", lp.format_float(-999999999.999999))
    end)

    it("round-trips every float it writes", function()
        math.randomseed(42)
        for _ = 1, 5000 do
            local v = (math.random() - 0.5) * 10 ^ math.random(-30, 30)
            local s = lp.format_float(v)
            assert.are.equal(v, tonumber(s))
            assert.is_true(#s <= 24)
        end
    end)

    it("skips NaN and infinities", function()
        local _, why = lp.format_float(0 / 0)
        assert.are.equal("nan_inf", why)
        assert.is_nil(lp.format_float(math.huge))
        assert.is_nil(lp.format_float(-math.huge))
    end)

    it("formats booleans and strings", function()
        assert.are.equal("true", lp.format_value(true))
        assert.are.equal("false", lp.format_value(false))
        assert.are.equal('"x"', lp.format_value("x"))
        assert.are.equal("3i", lp.format_value(3, "integer"))
        assert.are.equal("3", lp.format_value(3, "float"))
        assert.are.equal('"3"', lp.format_value(3, "string"))
    end)
end)

describe("line_protocol points", function()
    it("sorts tags by key", function()
        local line = lp.encode("m", { zeta = "1", alpha = "2", mid = "3" }, { v = 1.5 }, 10)
        assert.are.equal("m,alpha=2,mid=3,zeta=1 v=1.5 10", line)
    end)

    it("drops tags with empty values or keys", function()
        local line = lp.encode("m", { a = "", b = "x", [""] = "y" }, { v = 1 }, 10)
        assert.are.equal("m,b=x v=1 10", line)
    end)

    it("writes a point without tags without a trailing comma", function()
        assert.are.equal("m v=1 10", lp.encode("m", {}, { v = 1 }, 10))
        assert.are.equal("m v=1 10", lp.encode("m", nil, { v = 1 }, 10))
        assert.are.equal("m v=1", lp.encode("m", nil, { v = 1 }))
    end)

    it("escapes every special character in every position", function()
        local line = lp.encode("m e,a s", { ["t k,="] = "t v,= " }, { ["f k,="] = 'q"\\' }, 1)
        assert.are.equal([[m\ e\,a\ s,t\ k\,\==t\ v\,\=\  f\ k\,\=="q\"\\" 1]], line)
    end)

    it("sorts fields and types them", function()
        local line = lp.encode("m", nil, { b = 2, a = true, c = "s", d = 7 }, 5, { d = "integer" })
        assert.are.equal('m a=true,b=2,c="s",d=7i 5', line)
    end)

    it("skips NaN/Inf fields and counts them; a point left without fields is refused", function()
        local line, err, skipped = lp.encode("m", nil, { a = 0 / 0, b = 1 }, 5)
        assert.are.equal("m b=1 5", line)
        assert.is_nil(err)
        assert.are.equal(1, skipped)
        line, err, skipped = lp.encode("m", nil, { a = math.huge }, 5)
        assert.is_nil(line)
        assert.are.equal("nan_inf", err)
        assert.are.equal(1, skipped)
    end)

    it("refuses an empty measurement, bad timestamps and bad integers", function()
        assert.is_nil(lp.encode("", nil, { v = 1 }))
        assert.is_nil(lp.encode("m", nil, { v = 1 }, 1.5))
        assert.is_nil(lp.encode("m", nil, { v = 1 }, "12x"))
        local line, err = lp.encode("m", nil, { v = 1.5 }, 1, { v = "integer" })
        assert.is_nil(line)
        assert.matches("not an integer", err)
    end)

    it("accepts decimal-string timestamps beyond 2^53 unchanged", function()
        assert.are.equal("m v=1 1700000000123456789", lp.encode("m", nil, { v = 1 }, "1700000000123456789"))
    end)

    it("notices a modified tags table between calls", function()
        local tags = { host = "a" }
        assert.are.equal("m,host=a v=1 1", lp.encode("m", tags, { v = 1 }, 1))
        tags.host = "b"
        assert.are.equal("m,host=b v=1 1", lp.encode("m", tags, { v = 1 }, 1))
        tags.zone = "z"
        assert.are.equal("m,host=b,zone=z v=1 1", lp.encode("m", tags, { v = 1 }, 1))
        tags.zone = nil
        assert.are.equal("m,host=b v=1 1", lp.encode("m", tags, { v = 1 }, 1))
    end)

    it("formats integral timestamps exactly across thousands", function()
        for _, ts in ipairs({ 0, 7, 999, 1000, 1001, 999999, 1000000, 1700000000999, 1700000001000, 9007199254740991 }) do
            assert.are.equal(string.format("m v=1 %.0f", ts), lp.encode("m", nil, { v = 1 }, ts))
        end
    end)

    it("defines no globals", function()
        local before = {}
        for k in pairs(_G) do before[k] = true end
        package.loaded["stacklight.line_protocol"] = nil
        require "stacklight.line_protocol"
        for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
    end)
end)
