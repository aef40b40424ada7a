-- busted spec: stacklight.self_monitoring (the output's counters and their points)
local F = require "fake_hindsight"

local function new(opts)
    local env, _, clock = F.sandbox()
    local self_monitoring = env.require "stacklight.self_monitoring"
    return self_monitoring.new(opts or {
        static_tags = { cluster = "dev" }, hostname = "node-1", plugin_name = "output.influxdb", precision = "ms",
    }), clock
end

describe("self_monitoring", function()
    it("starts at zero and writes both measurements with the tags, at the precision", function()
        local mon = new()
        local lines = mon:lines(1700000100.25, 7, 2)
        assert.are.equal(4, #lines)
        assert.are.equal("hindsight_output,cluster=dev,hostname=node-1,plugin=output.influxdb auth_failures=0i,"
            .. "backlog_points=7i,backoff_seconds=2,batch_latency_ms=0,last_batch_points=0i,last_error=\"\","
            .. "last_error_time=0i,last_status=0i,messages_batched=0i,partial_writes=0i,points_dropped=0i,"
            .. "points_written=0i,request_failures=0i,requests=0i,retries=0i,splits=0i,type_conflicts=0i 1700000100250",
            lines[1])
        assert.are.equal("hindsight_output_dropped,cluster=dev,hostname=node-1,plugin=output.influxdb,reason=bad_message"
            .. " points=0i 1700000100250", lines[2])
        assert.matches("reason=nan_inf points=0i ", lines[3])
        assert.matches("reason=rejected_by_influxdb points=0i ", lines[4])
        mon = new({ hostname = "h", plugin_name = "p", precision = "s" })
        assert.matches("^hindsight_output,hostname=h,plugin=p .* 1700000100$", mon:lines(1700000100.25, 0, 0)[1])
    end)

    it("counts answers and writes, and sums the dropped points", function()
        local mon = new()
        mon:answer(401, false)
        mon:answer(500, true)
        mon:answer(nil, false)
        mon:written(10, 0, 12.5, false)
        mon:written(4, 3, 7.25, true)
        mon.dropped.nan_inf = mon.dropped.nan_inf + 2
        local _, fields = F.parse_line(mon:lines(1700000100, 0, 0)[1])
        assert.are.equal("1i", fields.auth_failures)
        assert.are.equal("1i", fields.type_conflicts)
        assert.are.equal("11i", fields.points_written)
        assert.are.equal("1i", fields.partial_writes)
        assert.are.equal("7.25", fields.batch_latency_ms)
        assert.are.equal("4i", fields.last_batch_points)
        assert.are.equal("5i", fields.points_dropped)
        assert.are.same({ nan_inf = 2, rejected_by_influxdb = 3, bad_message = 0 }, mon.dropped)
    end)

    it("keeps the last error on one line, at most 512 bytes, with its time", function()
        local mon, clock = new()
        clock.now = 1700000200.75
        assert.are.equal("HTTP 500: a b", mon:note_error("HTTP 500: a\nb"))
        assert.are.equal(1700000200, mon.stats.last_error_time)
        local long = mon:note_error(string.rep("x", 600))
        assert.are.equal(512, #long)
        assert.matches("%.%.%.$", long)
        assert.are.equal(long, mon.stats.last_error)
    end)

    it("defines no globals", function()
        local before = {}
        for k in pairs(_G) do before[k] = true end
        package.loaded["stacklight.self_monitoring"] = nil
        require "stacklight.self_monitoring"
        for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
    end)
end)
