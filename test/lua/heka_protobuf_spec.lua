-- busted spec: stacklight.heka_protobuf (raw Heka message decoder, exact 64-bit integers); the
-- wire primitives and the 64-bit arithmetic have their own (protobuf_wire_spec, int64_spec)
local F = require "fake_hindsight"
local hpb = require "stacklight.heka_protobuf"

describe("heka_protobuf decode", function()
    local m = hpb.new()

    it("indexes a Snap message: headers, fields in order, names", function()
        local raw = F.snap_message({ value = 12.5, dynamic = { { "cpuID", "3" } } })
        assert.is_true(m:decode(raw))
        assert.are.equal("snap.heka", m:get_type())
        assert.are.equal("snap.heka.logger", m:get_logger())
        assert.are.equal("snap-pod-abc", m:get_hostname())
        assert.is_true(m:names())
        local names = {}
        for i = 1, m.n do names[i] = m.name[i] end
        assert.are.same({ "cpuID", "hostname", "plugin_running_on", "dimensions", "name", "value", "timestamp" }, names)
        local i = m:last_index("value")
        m:parse(i)
        assert.are.equal(hpb.DOUBLE, m.vtype[i])
        assert.are.equal(12.5, m.value[i])
        local d = m:last_index("dimensions")
        m:parse(d)
        assert.are.equal(3, m.count[d])
        assert.are.equal("plugin_running_on", m.strings[m.sfirst[d] + 2])
    end)

    it("finds the first and the last of repeated names", function()
        local raw = F.snap_message({ name = "intel.procfs.x", dynamic = { { "name", "eth0" } }, value = 1 })
        assert.is_true(m:decode(raw))
        local first, last = m:first_index("name"), m:last_index("name")
        assert.are_not.equal(first, last)
        m:parse(first)
        m:parse(last)
        assert.are.equal("eth0", m.value[first])
        assert.are.equal("intel.procfs.x", m.value[last])
    end)

    it("keeps nanosecond timestamps exact beyond 2^53", function()
        local raw = F.encode_message({ Timestamp = "1700000000123999999", Fields = {
            { name = "timestamp", value = "1700000000987654321", value_type = 2 } } })
        assert.is_true(m:decode(raw))
        assert.are.equal("1700000000123999999", m:header_time(1))
        assert.are.equal("1700000000123", m:header_time(1e6))
        assert.are.equal("1700000000987654321", m:field_time(1, 1))
        assert.are.equal("1700000000987654", m:field_time(1, 1e3))
        assert.are.equal("1700000000987", m:field_time(1, 1e6))
        assert.are.equal("1700000000", m:field_time(1, 1e9))
        -- what a double would have said:
        assert.are.equal("1700000000124", string.format("%.0f", math.floor(1700000000123999999 / 1e6)))
    end)

    it("is exact at millisecond boundaries where doubles round (256 ns spacing)", function()
        for _, case in ipairs({
            { "1700000000123999999", "1700000000123" },
            { "1700000000124000000", "1700000000124" },
            { "1700000000123999744", "1700000000123" },
            { "1700000000124000255", "1700000000124" },
            { "1699999999999999999", "1699999999999" },
        }) do
            assert.is_true(m:decode(F.encode_message({ Timestamp = case[1] })))
            assert.are.equal(case[2], m:header_time(1e6))
        end
    end)

    it("decodes int64 values exactly, negative ones too (uint64 cast by Snap)", function()
        for _, v in ipairs({ "0", "1", "127", "128", "4294967295", "4294967296", "9007199254740993",
            "9223372036854775807", "-1", "-128", "-4294967296", "-9223372036854775808" }) do
            assert.is_true(m:decode(F.encode_message({ Timestamp = 1, Fields = { { name = "v", value = v, value_type = 2 } } })))
            assert.are.equal(v, m:integer_string(1))
        end
    end)

    it("reads packed and unpacked values alike", function()
        for _, unpacked in ipairs({ false, true }) do
            local raw = F.encode_message({ Timestamp = 1, Fields = {
                { name = "i", value = { 5, 6 }, value_type = 2, unpacked = unpacked },
                { name = "d", value = { 2.5, 3.5 }, value_type = 3, unpacked = unpacked },
                { name = "b", value = { true, false }, value_type = 4, unpacked = unpacked },
                { name = "s", value = { "x", "y" }, value_type = 0, representation = "unit" },
            } })
            assert.is_true(m:decode(raw))
            for i, expected in ipairs({ 5, 2.5, true, "x" }) do
                m:parse(i)
                assert.are.equal(expected, m.value[i])
                assert.are.equal(2, m.count[i])
            end
        end
    end)

    it("decodes doubles bit for bit", function()
        math.randomseed(3)
        local values = { 0, -0.0, 1, -1, 0.1, 1e308, -1e-308, 4.9406564584124654e-324, math.huge, -math.huge }
        for _ = 1, 500 do values[#values + 1] = (math.random() - 0.5) * 10 ^ math.random(-300, 300) end
        for _, v in ipairs(values) do
            assert.is_true(m:decode(F.encode_message({ Timestamp = 1, Fields = { { name = "d", value = v, value_type = 3 } } })))
            m:parse(1)
            assert.are.equal(v, m.value[1])
        end
        assert.is_true(m:decode(F.encode_message({ Timestamp = 1, Fields = { { name = "d", value = 0 / 0, value_type = 3 } } })))
        m:parse(1)
        assert.are_not.equal(m.value[1], m.value[1]) -- NaN
    end)

    it("skips headers it does not use and unknown fields", function()
        local raw = F.encode_message({ Timestamp = 5, Type = "t", EnvVersion = "1", Pid = 70000, Severity = 3,
            Payload = string.rep("p", 300), Fields = { { name = "a", value = "b" } } })
        raw = raw .. "\168\6\1" -- field 101, varint 1: unknown to Heka
        assert.is_true(m:decode(raw))
        assert.are.equal(1, m.n)
        assert.are.equal("t", m:get_type())
    end)

    it("never raises on malformed input", function()
        local raw = F.snap_message({ value = 1.25 })
        math.randomseed(11)
        local refused = 0
        for cut = 0, #raw - 1 do
            local ok, res = pcall(function() return m:decode(raw:sub(1, cut)) end)
            assert.is_true(ok, res)
            if not res then refused = refused + 1 end
        end
        assert.is_true(refused > #raw / 2)
        for _ = 1, 3000 do
            local p = math.random(1, #raw)
            local bad = raw:sub(1, p - 1) .. string.char(math.random(0, 255)) .. raw:sub(p + 1)
            local ok, err = pcall(function()
                if m:decode(bad) and m:names() then
                    for i = 1, m.n do
                        m:parse(i)
                        m:integer_string(i)
                        m:field_time(i, 1e6)
                    end
                end
            end)
            assert.is_true(ok, err)
        end
        assert.is_nil(m:decode(nil))
        assert.is_nil(m:decode(""))
        assert.is_nil(m:decode(F.encode_message({ Timestamp = 1 }):sub(1, 18))) -- Uuid only, no Timestamp
    end)

    it("defines no globals", function()
        local before = {}
        for k in pairs(_G) do before[k] = true end
        package.loaded["stacklight.heka_protobuf"] = nil
        require "stacklight.heka_protobuf"
        for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
    end)
end)
