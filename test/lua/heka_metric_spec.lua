-- busted spec: stacklight.heka_metric (Heka metric message -> line-protocol point)
local F = require "fake_hindsight"
local hpb = require "stacklight.heka_protobuf"
local hm = require "stacklight.heka_metric"

local function convert(raw, opts)
    local m = hpb.new()
    assert(m:decode(raw))
    return hm.new(opts or {}):encode(m)
end

describe("heka_metric with Snap messages", function()
    it("writes measurement, tags (without plugin_running_on), value and collection time", function()
        local raw = F.snap_message({ value = 12.5, dynamic = { { "cpuID", "3" } }, tags = { { "hostname", "node-1" } },
            timestamp = "1700000000123456789", published = "1700000009000000000" })
        assert.are.equal("intel.procfs.cpu.user_percentage,cpuID=3,hostname=node-1 value=12.5 1700000000123", convert(raw))
    end)

    it("adds static tags, sorted with the message tags; a static tag wins", function()
        local raw = F.snap_message({ value = 1, tags = { { "hostname", "n1" }, { "cluster", "from-snap" } } })
        local line = convert(raw, { static_tags = { cluster = "prod", environment = "prod" } })
        assert.are.equal("intel.procfs.cpu.user_percentage,cluster=prod,environment=prod,hostname=n1 value=1 1700000000123", line)
    end)

    it("honours excluded_tags", function()
        local raw = F.snap_message({ value = 1, tags = { { "hostname", "n1" }, { "rack", "r1" } } })
        assert.are.equal("intel.procfs.cpu.user_percentage,hostname=n1,rack=r1 value=1 1700000000123",
            convert(raw, { excluded_tags = { "plugin_running_on" } }))
        assert.are.equal("intel.procfs.cpu.user_percentage,hostname=n1 value=1 1700000000123",
            convert(raw, { excluded_tags = { "plugin_running_on", "rack" } }))
        assert.are.equal("intel.procfs.cpu.user_percentage,hostname=n1,plugin_running_on=snap-pod-abc,rack=r1 value=1 1700000000123",
            convert(raw, { excluded_tags = {} }))
    end)

    it("takes the LAST name field as the measurement when a dynamic element is called name", function()
        local raw = F.snap_message({ name = "intel.procfs.iface.bytes_recv", value = 5, value_type = 2,
            dynamic = { { "name", "eth0" } } })
        assert.are.equal("intel.procfs.iface.bytes_recv,hostname=node-1,name=eth0 value=5i 1700000000123", convert(raw))
    end)

    it("handles tags called value or timestamp", function()
        local raw = F.snap_message({ value = 2.5, dynamic = { { "value", "v1" }, { "timestamp", "t1" } } })
        assert.are.equal("intel.procfs.cpu.user_percentage,hostname=node-1,timestamp=t1,value=v1 value=2.5 1700000000123", convert(raw))
    end)

    it("keeps the value type: integer, float, string, boolean", function()
        local cases = {
            { 42, 2, "value=42i" },
            { "-9223372036854775808", 2, "value=-9223372036854775808i" },
            { 42, 3, "value=42" },
            { 0.1, 3, "value=0.1" },
            { 'ext4 "root"', 0, [[value="ext4 \"root\""]] },
            { true, 4, "value=true" },
        }
        for _, c in ipairs(cases) do
            local line = convert(F.snap_message({ value = c[1], value_type = c[2] }))
            assert.are.equal("intel.procfs.cpu.user_percentage,hostname=node-1 " .. c[3] .. " 1700000000123", line)
        end
    end)

    it("skips NaN and infinite values and counts them", function()
        for _, v in ipairs({ 0 / 0, math.huge, -math.huge }) do
            local line, reason, _, skipped = convert(F.snap_message({ value = v }))
            assert.is_nil(line)
            assert.are.equal("nan_inf", reason)
            assert.are.equal(1, skipped)
        end
    end)

    it("converts the collection time exactly at every precision", function()
        local raw = F.snap_message({ value = 1, timestamp = "1700000000123999999" })
        local expected = { ns = "1700000000123999999", u = "1700000000123999", ms = "1700000000123", s = "1700000000" }
        for precision, ts in pairs(expected) do
            assert.are.equal("intel.procfs.cpu.user_percentage,hostname=node-1 value=1 " .. ts, convert(raw, { precision = precision }))
        end
    end)

    it("falls back to the message Timestamp without a (valid) timestamp field", function()
        local raw = F.encode_message({ Timestamp = "1700000005999999999", Type = "snap.heka", Fields = {
            { name = "name", value = "m" }, { name = "value", value = 1, value_type = 3 } } })
        assert.are.equal("m value=1 1700000005999", convert(raw))
        raw = F.encode_message({ Timestamp = "1700000005999999999", Fields = {
            { name = "name", value = "m" }, { name = "value", value = 1, value_type = 3 },
            { name = "timestamp", value = "-5", value_type = 2 } } })
        assert.are.equal("m value=1 1700000005999", convert(raw))
    end)

    it("refuses messages without a name or a value, and says why", function()
        local line, reason, detail = convert(F.encode_message({ Timestamp = 1, Fields = { { name = "value", value = 1 } } }))
        assert.is_nil(line)
        assert.are.equal("bad_message", reason)
        assert.matches("name", detail)
        line, reason = convert(F.snap_message({ value = nil }))
        assert.is_nil(line)
        assert.are.equal("bad_message", reason)
    end)
end)

describe("heka_metric with the generic stacklight.metric convention", function()
    it("writes value_fields as fields and tag_fields as tags", function()
        local raw = F.encode_message({ Timestamp = "1700000000000000000", Type = "stacklight.metric", Fields = {
            { name = "name", value = "stacklight.node_health" },
            { name = "node", value = "n1" },
            { name = "zone", value = "" },
            { name = "up", value = true, value_type = 4 },
            { name = "load", value = 0.5, value_type = 3 },
            { name = "procs", value = 12, value_type = 2 },
            { name = "tag_fields", value = { "node", "zone" } },
            { name = "value_fields", value = { "up", "load", "procs" } },
        } })
        assert.are.equal("stacklight.node_health,node=n1 up=true,load=0.5,procs=12i 1700000000000", convert(raw))
    end)

    it("skips a NaN field of several and keeps the others", function()
        local raw = F.encode_message({ Timestamp = 1e9, Type = "stacklight.metric", Fields = {
            { name = "name", value = "m" },
            { name = "a", value = 0 / 0, value_type = 3 },
            { name = "b", value = 2, value_type = 3 },
            { name = "value_fields", value = { "a", "b" } },
        } })
        local line, _, _, skipped = convert(raw)
        assert.are.equal("m b=2 1000", line)
        assert.are.equal(1, skipped)
    end)

    it("accepts a plain value with tag_fields and a timestamp field", function()
        local raw = F.encode_message({ Timestamp = 1, Type = "stacklight.metric", Fields = {
            { name = "name", value = "m" }, { name = "host", value = "h" },
            { name = "tag_fields", value = { "host" } }, { name = "value", value = 3, value_type = 2 },
            { name = "timestamp", value = "1700000000000000001", value_type = 2 } } })
        assert.are.equal("m,host=h value=3i 1700000000000000001", convert(raw, { precision = "ns" }))
    end)
end)

describe("heka_metric series cache", function()
    it("gives the right line for every message of interleaved series", function()
        local conv = hm.new({ static_tags = { cluster = "c" } })
        local m = hpb.new()
        for round = 1, 3 do
            for cpu = 0, 3 do
                local raw = F.snap_message({ value = cpu + round / 10, dynamic = { { "cpuID", tostring(cpu) } },
                    timestamp = string.format("%d000000000", 1700000000 + round) })
                assert(m:decode(raw))
                local expected = string.format("intel.procfs.cpu.user_percentage,cluster=c,cpuID=%d,hostname=node-1 value=%s %d000",
                    cpu, tostring(cpu + round / 10), 1700000000 + round)
                assert.are.equal(expected, conv:encode(m))
            end
        end
    end)

    it("does not reuse a cached series for a message whose value is not last", function()
        local conv = hm.new({})
        local m = hpb.new()
        assert(m:decode(F.snap_message({ value = 1 })))
        assert.are.equal("intel.procfs.cpu.user_percentage,hostname=node-1 value=1 1700000000123", conv:encode(m))
        -- same leading fields, then value_fields after the value
        local raw = F.snap_message({ value = 1 }) .. F.encode_message({ Fields = {
            { name = "other", value = 7, value_type = 3 }, { name = "value_fields", value = { "other" } } } }):sub(21)
        assert(m:decode(raw))
        assert.are.equal("intel.procfs.cpu.user_percentage,hostname=node-1 other=7 1700000000123", conv:encode(m))
    end)

    it("does not cache tags read from the value or timestamp fields", function()
        local conv = hm.new({})
        local m = hpb.new()
        for _, t in ipairs({ "1700000000000000001", "1700000000000000002" }) do
            local raw = F.encode_message({ Timestamp = 1, Fields = {
                { name = "name", value = "m" }, { name = "dimensions", value = { "timestamp" } },
                { name = "value", value = 1, value_type = 3 }, { name = "timestamp", value = t, value_type = 2 } } })
            assert(m:decode(raw))
            assert.are.equal("m,timestamp=" .. t .. " value=1 " .. t:sub(1, 13), conv:encode(m))
        end
    end)

    it("stays bounded", function()
        local conv = hm.new({})
        local m = hpb.new()
        for i = 1, hm.CACHE_MAX + 10 do
            assert(m:decode(F.snap_message({ value = 1, dynamic = { { "cpuID", tostring(i) } } })))
            assert.is_truthy(conv:encode(m))
        end
        assert.is_true(conv.cache_n <= hm.CACHE_MAX)
        local old = 0
        for _ in pairs(conv.old) do old = old + 1 end
        assert.is_true(old <= hm.CACHE_MAX)
    end)

    it("keeps serving a working set larger than one generation from the two", function()
        local conv = hm.new({})
        local m = hpb.new()
        local series = hm.CACHE_MAX + 10
        local function pass(value)
            for i = 1, series do
                assert(m:decode(F.snap_message({ value = value, dynamic = { { "cpuID", tostring(i) } } })))
                assert.are.equal(string.format("intel.procfs.cpu.user_percentage,cpuID=%d,hostname=node-1 value=%d 1700000000123",
                    i, value), conv:encode(m))
            end
        end
        pass(1)
        pass(2)
        -- every series of the set is in one generation or the other after the second pass
        local found = 0
        for i = 1, series do
            assert(m:decode(F.snap_message({ value = 3, dynamic = { { "cpuID", tostring(i) } } })))
            local key = m.raw:sub(m.estart[1], m.estart[m.n - 1] - 1)
            if conv.cache[key] or conv.old[key] then found = found + 1 end
        end
        assert.are.equal(series, found)
    end)
end)

describe("heka_metric encode_raw (the plugin's path)", function()
    -- Each message twice through one converter (the second time its series is cached), against
    -- the full path (decode, then encode with a converter of its own).
    local opts = { static_tags = { cluster = "c" } }
    local function full(raw)
        local m = hpb.new()
        local ok, err = m:decode(raw)
        if not ok then return nil, "bad_message", err, 0 end
        return hm.new(opts):encode(m)
    end
    local function same_as_full(conv, m, raw, label)
        local want = { full(raw) }
        for round = 1, 2 do
            local got = { conv:encode_raw(m, raw) }
            assert.are.same(want, got, label .. " (round " .. round .. ")")
        end
    end

    -- the Timestamp header (after the 18 bytes of the Uuid) moved behind the fields
    local function timestamp_last(raw)
        assert(raw:byte(19) == 16, "Uuid, then Timestamp expected")
        local stop = raw:find("[%z\1-\127]", 20)
        return raw:sub(1, 18) .. raw:sub(stop + 1) .. raw:sub(19, stop)
    end

    local INJECTED = "\82\23\10\5value\16\3\26\0\58\8" .. string.rep("\0", 8)

    local messages = {
        { "a double", F.snap_message({ value = 12.5, dynamic = { { "cpuID", "3" } } }) },
        { "an integer", F.snap_message({ value = "123456789012", value_type = 2 }) },
        { "a negative integer", F.snap_message({ value = "-5", value_type = 2 }) },
        { "a string", F.snap_message({ value = "up", value_type = 0 }) },
        { "a boolean", F.snap_message({ value = true, value_type = 4 }) },
        { "NaN", F.snap_message({ value = 0 / 0 }) },
        { "a long string value (no fast path)", F.snap_message({ value = string.rep("x", 200), value_type = 0 }) },
        { "tags in another order", F.snap_message({ value = 1, tags = { { "rack", "r1" }, { "hostname", "n1" } } }) },
        { "no representation", F.snap_message({ value = 2.5, no_representation = true }) },
        { "a tag value holding a value field's bytes", F.snap_message({ value = 7.25, tags = { { "hostname", INJECTED } } }) },
        { "a tag value holding a timestamp name", F.snap_message({ value = 7.5, tags = { { "hostname", "\10\9timestamp" } } }) },
        { "a header after the fields", F.snap_message({ value = 3.5 }) .. "\74\4late" },
        { "an extra field after the timestamp", F.snap_message({ value = 3.5 }) .. "\82\5\10\1x\16\0" },
        { "a truncated timestamp", F.snap_message({ value = 3.5 }):sub(1, -2) },
        { "the Timestamp header after the fields", timestamp_last(F.snap_message({ value = 4.5 })) },
        { "value_fields", F.encode_message({ Timestamp = 1, Fields = {
            { name = "name", value = "m" }, { name = "a", value = 1, value_type = 3 },
            { name = "value_fields", value = { "a" } }, { name = "timestamp", value = "1700000000000000000", value_type = 2 } } }) },
    }

    it("writes what decode and encode write, for every message, cached or not", function()
        local conv, m = hm.new(opts), hpb.new()
        for _, case in ipairs(messages) do same_as_full(conv, m, case[2], case[1]) end
    end)

    it("takes a cached Snap series without indexing its fields", function()
        local conv, m = hm.new(opts), hpb.new()
        local raw = F.snap_message({ value = 12.5, dynamic = { { "cpuID", "3" } } })
        conv:encode_raw(m, raw)
        assert.are.equal(0, conv.tail_hits)
        local again = F.snap_message({ value = 99.5, dynamic = { { "cpuID", "3" } }, timestamp = "1700000005000000000" })
        assert.are.equal("intel.procfs.cpu.user_percentage,cluster=c,cpuID=3,hostname=node-1 value=99.5 1700000005000",
            conv:encode_raw(m, again))
        assert.are.equal(1, conv.tail_hits)
    end)

    it("matches the full path on randomised Snap series, values and times", function()
        math.randomseed(5)
        local conv, m = hm.new(opts), hpb.new()
        local kinds = { { 3, function() return (math.random() - 0.5) * 10 ^ math.random(-5, 12) end },
            { 2, function() return tostring(math.random(0, 2 ^ 40)) end }, { 0, function() return "s" .. math.random(9) end } }
        for i = 1, 3000 do
            local kind = kinds[math.random(#kinds)]
            local raw = F.snap_message({
                name = "m." .. (i % 5), value = kind[2](), value_type = kind[1],
                dynamic = { { "cpuID", tostring(i % 7) } }, tags = { { "hostname", "n" .. (i % 3) } },
                timestamp = string.format("%d", 1700000000000000000 + math.random(0, 2 ^ 40)),
            })
            same_as_full(conv, m, raw, "random message " .. i)
        end
        assert.is_true(conv.tail_hits > 2500)
    end)
end)
