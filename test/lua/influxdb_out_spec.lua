-- busted spec: lua/output/influxdb_out.lua in a fake lua_sandbox, driven like Hindsight 0.16 does
local F = require "fake_hindsight"
local mime = require "mime"

local PASSWORD = "s3cret-pw"

-- A Snap message whose value identifies it: value = i (INTEGER), cpuID = i % 4.
local function snap(i, spec)
    spec = spec or {}
    spec.value = spec.value or i
    spec.value_type = spec.value_type or 2
    spec.dynamic = spec.dynamic or { { "cpuID", tostring(i % 4) } }
    return F.snap_message(spec)
end

local function deliver_all(hs, from, to)
    for i = from, to do hs.deliver(snap(i)) end
end

-- The message numbers (values) of the metric lines InfluxDB accepted, with their count.
local function written_values(hs)
    local seen = {}
    for _, l in ipairs(hs.written_lines("intel.procfs")) do
        local v = tonumber(l:match(" value=(%-?%d+)i "))
        seen[v] = (seen[v] or 0) + 1
    end
    return seen
end

local function json_error(msg)
    return '{"error":"' .. msg:gsub('"', '\\"') .. '"}\n'
end

-- InfluxDB's answer when point 13 of a request has the wrong field type, 204 without it.
local function refuse_point_13(req)
    if req.body:find(" value=13i ", 1, true) then
        return 400, json_error('field type conflict: input field "value" on measurement "x" is type integer, already exists as type float')
    end
    req.accepted = true
    return 204, ""
end

describe("influxdb_out loading", function()
    it("loads and defines no globals but process_message and timer_event", function()
        local hs = F.hindsight()
        assert.is_nil(hs.load_error)
        table.sort(hs.new_globals)
        assert.are.same({ "process_message", "timer_event" }, hs.new_globals)
    end)

    it("refuses a password in the cfg", function()
        local hs = F.hindsight({ cfg = { password = "plain" } })
        assert.matches("password must not be set in the cfg", hs.load_error)
    end)

    it("fails at load, naming the variable, when the password variable is not set", function()
        local hs = F.hindsight({ env_vars = {} })
        assert.matches("INFLUXDB_PASSWORD is not set", hs.load_error)
    end)

    it("refuses a bad precision and a missing URL", function()
        assert.matches("precision", F.hindsight({ cfg = { precision = "m" } }).load_error)
        assert.matches("influxdb_url must be set", F.hindsight({ cfg = { influxdb_url = false } }).load_error)
    end)
end)

describe("influxdb_out requests", function()
    it("POSTs to /write with db, rp and precision, basic auth and the configured timeout", function()
        local hs = F.hindsight({ cfg = { batch_max_points = 2 } })
        deliver_all(hs, 1, 2)
        local req = hs.http.requests[1]
        assert.are.equal("POST", req.method)
        assert.are.equal("http://influxdb.monitoring.svc:8086/write?db=stacklight&rp=stacklight&precision=ms", req.url)
        assert.are.equal("Basic " .. mime.b64("hindsight:" .. PASSWORD), req.headers.authorization)
        assert.are.equal(tostring(#req.body), req.headers["content-length"])
        assert.are.equal(5, req.timeout) -- not LuaSocket's 60
    end)

    it("URL-encodes the database, leaves out an empty retention policy, uses the precision", function()
        local hs = F.hindsight({ cfg = { batch_max_points = 2, database = "my db&x", retention_policy = "",
            precision = "s", timeout = 2, influxdb_url = "https://influx.example:8086/" } })
        deliver_all(hs, 1, 2)
        local req = hs.http.requests[1]
        assert.are.equal("https://influx.example:8086/write?db=my%20db%26x&precision=s", req.url)
        assert.are.equal(2, req.timeout)
        assert.matches(" 1700000000$", F.lines(req.body)[1])
    end)

    it("reads the password from password_file, which wins over password_env", function()
        local path = os.tmpname()
        local fh = assert(io.open(path, "w"))
        fh:write("from-file\n")
        fh:close()
        local hs = F.hindsight({ cfg = { batch_max_points = 2, password_file = path } })
        os.remove(path)
        assert.is_nil(hs.load_error)
        deliver_all(hs, 1, 2)
        assert.are.equal("Basic " .. mime.b64("hindsight:from-file"), hs.http.requests[1].headers.authorization)
    end)

    it("fails at load when password_file cannot be read", function()
        local hs = F.hindsight({ cfg = { password_file = "/nonexistent/secret" } })
        assert.matches("cannot read password_file", hs.load_error)
    end)

    it("sends no credentials without a username", function()
        local hs = F.hindsight({ cfg = { batch_max_points = 2, username = "" }, env_vars = {} })
        assert.is_nil(hs.load_error)
        deliver_all(hs, 1, 2)
        assert.is_nil(hs.http.requests[1].headers.authorization)
    end)
end)

describe("influxdb_out batching", function()
    it("returns -4 while batching and 0 once InfluxDB answered 204 (by point count)", function()
        local hs = F.hindsight({ cfg = { batch_max_points = 3 } })
        deliver_all(hs, 1, 7)
        assert.are.same({ -4, -4, 0, -4, -4, 0, -4 }, hs.statuses)
        assert.are.equal(2, #hs.http.requests)
        assert.are.equal(3, #F.lines(hs.http.requests[1].body))
        assert.are.equal(6, hs.cp) -- the 7th is only batched
    end)

    it("flushes by bytes, never a batch of a single point", function()
        local hs = F.hindsight({ cfg = { batch_max_bytes = 250 } })
        deliver_all(hs, 1, 6)
        local lines = F.lines(hs.http.requests[1].body)
        assert.are.equal(3, #lines) -- ~105 bytes each: the third one crosses 250
        assert.are.same({ -4, -4, 0, -4, -4, 0 }, hs.statuses)
        hs = F.hindsight({ cfg = { batch_max_bytes = 10 } })
        deliver_all(hs, 1, 4)
        assert.are.same({ -4, 0, -4, 0 }, hs.statuses)
    end)

    it("caps the batch at a sixteenth of the sandbox memory_limit", function()
        local hs = F.hindsight({ cfg = { batch_max_bytes = 1e9, memory_limit = 16000 } })
        deliver_all(hs, 1, 30)
        assert.is_true(#hs.http.requests >= 2)
        assert.is_true(#hs.http.requests[1].body <= 1000 + 100)
    end)

    it("flushes by time from timer_event and commits with update_checkpoint", function()
        local hs = F.hindsight()
        deliver_all(hs, 1, 2)
        assert.are.equal(0, #hs.http.requests)
        assert.are.equal(0, hs.cp)
        hs.idle(6)
        local data = hs.data_requests()
        assert.are.equal(1, #data)
        assert.are.equal(2, #F.lines(data[1].body))
        assert.are.equal(2, hs.cp)
    end)

    it("writes a partial batch on shutdown", function()
        local hs = F.hindsight()
        deliver_all(hs, 1, 3)
        assert.are.equal(3, hs.stop())
        assert.are.same({ [1] = 1, [2] = 1, [3] = 1 }, written_values(hs))
    end)
end)

describe("influxdb_out memory", function()
    -- lua_sandbox refuses any allocation past memory_limit, garbage included, and terminates the
    -- plugin: the peak of the heap as it runs counts, not what a full collection leaves. It is
    -- measured by memory_probe.lua in a process of its own (busted's own data would raise the
    -- collector's threshold here), with long tag values so batches and the cache fill by bytes.
    local here = debug.getinfo(1, "S").source:match("^@(.*)influxdb_out_spec%.lua$") or "./"
    local function probe(series)
        local pipe = assert(io.popen("lua5.1 " .. here .. "memory_probe.lua " .. series .. " 40000"))
        local out = pipe:read("*a")
        pipe:close()
        local peak, limit = out:match('"peak_kib":(%d+),"limit_kib":(%d+)')
        assert(peak, "the probe printed: " .. out)
        return tonumber(peak), tonumber(limit)
    end

    for _, series in ipairs({ 100, 1000, 3000 }) do
        it("keeps the heap under three quarters of memory_limit with " .. series .. " long-tag series", function()
            local peak, limit = probe(series)
            assert.is_true(peak < 0.75 * limit, string.format("the heap reached %d KiB of %d KiB", peak, limit))
        end)
    end
end)

describe("influxdb_out retries", function()
    local function outage(status_or_error, seconds, cfg)
        local down_until
        local hs
        hs = F.hindsight({ cfg = cfg or { batch_max_points = 2 }, handler = function(req)
            if hs.clock.now < down_until then
                if type(status_or_error) == "number" then return status_or_error, json_error("boom") end
                return nil, status_or_error
            end
            req.accepted = true
            return 204, ""
        end })
        down_until = hs.clock.now + seconds
        return hs
    end

    it("keeps the batch on connection errors, backs off, and delivers it once InfluxDB is back", function()
        local hs = outage("connection refused", 100)
        local start = hs.clock.now
        hs.deliver(snap(1))
        local ret, retries = hs.deliver(snap(2))
        assert.are.equal(0, ret)
        assert.is_true(retries >= 99)
        assert.are.equal(2, hs.cp)
        -- one write per back-off step, not one per second: 1, 2, 4, 8, 16, 30, 30...; and at most
        -- one /ping a second, which a down InfluxDB refuses before any request is made
        local during, pings, last_ping = 0, 0, nil
        local previous
        for _, req in ipairs(hs.http.requests) do
            if req.time < start + 100 then
                if req.method == "GET" then
                    pings = pings + 1
                    assert.matches("/ping$", req.url)
                    if last_ping then assert.is_true(req.time - last_ping >= 0.999, "pings more than once a second") end
                    last_ping = req.time
                else
                    during = during + 1
                    if previous then assert.is_true(req.time - previous <= 31, "back-off above max_retry_backoff") end
                    previous = req.time
                end
            end
        end
        assert.is_true(during >= 6 and during <= 10, "writes during the outage: " .. during)
        assert.is_true(pings >= 50 and pings <= 100, "pings during the outage: " .. pings)
        -- the re-offered message was batched once
        assert.are.same({ [1] = 1, [2] = 1 }, written_values(hs))
        hs.idle(6)
        local stats = hs.last_stats()
        assert.is_true(tonumber(stats.retries:match("%d+")) >= 6)
        assert.matches("connection refused", stats.last_error)
    end)

    it("retries at once when an InfluxDB that did not answer answers /ping again, not after the back-off", function()
        local hs = outage("connection refused", 45)
        hs.deliver(snap(1))
        local back = 45
        hs.deliver(snap(2)) -- Hindsight re-offers point 2 about every second until it is written
        local writes = {}
        for _, req in ipairs(hs.http.requests) do
            if req.method == "POST" and req.accepted then writes[#writes + 1] = req.time end
        end
        assert.is_true(#writes >= 1)
        local start = hs.http.requests[1].time
        -- the back-off had grown to 16-30 s by then: the write came within 2 s of InfluxDB's return
        assert.is_true(writes[1] - (start + back) <= 2, "written " .. (writes[1] - start - back) .. " s after InfluxDB came back")
        assert.are.same({ [1] = 1, [2] = 1 }, written_values(hs))
    end)

    it("keeps the back-off for an InfluxDB that answers with an error: no write a second", function()
        local hs = outage(503, 100)
        local start = hs.clock.now
        hs.deliver(snap(1))
        hs.deliver(snap(2))
        local writes, pings = 0, 0
        for _, req in ipairs(hs.http.requests) do
            if req.time < start + 100 then
                if req.method == "GET" then pings = pings + 1 else writes = writes + 1 end
            end
        end
        assert.are.equal(0, pings)
        assert.is_true(writes >= 6 and writes <= 10, "writes during the outage: " .. writes)
    end)

    it("retries a failed timer flush together with the points batched since", function()
        local hs = F.hindsight({ cfg = { batch_max_points = 4 }, handler = F.responses({ { 500, json_error("timeout") } }) })
        hs.deliver(snap(1))
        hs.idle(6) -- the timer's flush of point 1 fails
        assert.are.equal(1, #hs.http.requests)
        deliver_all(hs, 2, 4)
        assert.are.equal(0, hs.statuses[#hs.statuses])
        assert.are.equal(4, hs.cp)
        assert.are.equal(4, #F.lines(hs.http.requests[2].body))
        assert.are.same({ [1] = 1, [2] = 1, [3] = 1, [4] = 1 }, written_values(hs))
    end)

    it("commits the re-offered message when timer_event wrote the batch during Hindsight's retries", function()
        local hs = F.hindsight({ cfg = { batch_max_points = 2 }, handler = F.responses({ { 503, json_error("busy") } }) })
        hs.deliver(snap(1))
        local raw2 = snap(2)
        assert.are.equal(-3, hs.deliver(raw2, 0)) -- full, the write failed: Hindsight will re-offer it
        assert.are.equal(0, hs.cp)
        hs.clock.now = hs.clock.now + 2
        hs.env.timer_event(hs.clock.now * 1e9, false) -- writes the batch and calls update_checkpoint()
        assert.are.equal(2, hs.cp)
        assert.are.equal(0, hs.output_message(raw2)) -- the re-offer: already written
        assert.are.same({ [1] = 1, [2] = 1 }, written_values(hs))
    end)

    it("survives an exception in the HTTP library, and retries", function()
        local n = 0
        local hs = F.hindsight({ cfg = { batch_max_points = 2 }, handler = function(req)
            n = n + 1
            if n == 1 then error("boom inside LuaSocket") end
            req.accepted = true
            return 204, ""
        end })
        deliver_all(hs, 1, 2)
        assert.are.same({ [1] = 1, [2] = 1 }, written_values(hs))
        assert.are.equal(2, hs.cp)
    end)

    it("honours max_retry_backoff", function()
        local hs = outage("timeout", 60, { batch_max_points = 2, max_retry_backoff = 4 })
        deliver_all(hs, 1, 2)
        local gaps = {}
        for k = 2, #hs.http.requests do gaps[#gaps + 1] = hs.http.requests[k].time - hs.http.requests[k - 1].time end
        for _, g in ipairs(gaps) do assert.is_true(g <= 5) end
        assert.is_true(#hs.http.requests >= 14)
    end)

    it("never commits what InfluxDB did not take while it is down, also across a shutdown", function()
        local hs = outage(503, 1e9, { batch_max_points = 4 })
        deliver_all(hs, 1, 3)
        hs.idle(30)
        assert.are.equal(0, hs.cp)
        assert.are.equal(0, hs.stop())
        assert.are.same({}, written_values(hs))
    end)

    for _, case in ipairs({
        { 500, "5xx" }, { 503, "5xx" }, { 404, "database not found" }, { 401, "auth" }, { 403, "auth" },
        { 429, "throttling" }, { 408, "timeout" },
    }) do
        it("retries HTTP " .. case[1] .. " (" .. case[2] .. ") without dropping anything", function()
            local hs = outage(case[1], 40)
            local _, retries = hs.deliver(snap(1)), select(2, hs.deliver(snap(2)))
            assert.is_true(retries > 30)
            assert.are.same({ [1] = 1, [2] = 1 }, written_values(hs))
            assert.are.equal(2, hs.cp)
            hs.idle(6)
            local stats, _, dropped = hs.last_stats()
            assert.are.equal("0i", dropped.rejected_by_influxdb)
            if case[1] == 401 or case[1] == 403 then
                assert.is_true(tonumber(stats.auth_failures:match("%d+")) >= 3)
            end
            if case[1] == 404 then assert.matches("does database stacklight exist", stats.last_error) end
        end)
    end

    it("retries a 400 that does not come from InfluxDB (a proxy page)", function()
        local n = 0
        local hs = F.hindsight({ cfg = { batch_max_points = 2 }, handler = function(req)
            n = n + 1
            if n <= 2 then return 400, "<html><body>400 Bad Request</body></html>" end
            req.accepted = true
            return 204, ""
        end })
        deliver_all(hs, 1, 2)
        assert.are.same({ [1] = 1, [2] = 1 }, written_values(hs))
    end)

    it("never puts the password in logs, errors or points", function()
        local hs = outage(401, 20)
        deliver_all(hs, 1, 2)
        hs.idle(10)
        local everything = table.concat(hs.logs, "\n")
        for _, req in ipairs(hs.http.requests) do everything = everything .. req.url .. req.body end
        assert.is_nil(everything:find(PASSWORD, 1, true))
        assert.is_nil(everything:find(mime.b64("hindsight:" .. PASSWORD), 1, true))
        assert.is_true(#hs.logs > 0)
    end)
end)

describe("influxdb_out answers 400", function()
    it("commits a partial write (field type conflict), drops only the rejected point, reports it", function()
        local n = 0
        local hs = F.hindsight({ cfg = { batch_max_points = 4 }, handler = function(req)
            n = n + 1
            req.accepted = true
            if n == 1 then
                return 400, json_error('partial write: field type conflict: input field "value" on measurement ' ..
                    '"intel.procfs.cpu.user_percentage" is type integer, already exists as type float dropped=1')
            end
            return 204, ""
        end })
        deliver_all(hs, 1, 8)
        assert.are.same({ -4, -4, -4, -1, -4, -4, -4, 0 }, hs.statuses)
        assert.matches("rejected 1 of 4 points: HTTP 400: partial write: field type conflict", hs.status_messages[4])
        assert.are.equal(8, hs.cp)
        assert.are.equal(2, #hs.http.requests) -- no retry of the conflicting batch
        hs.idle(6)
        local stats, _, dropped = hs.last_stats()
        assert.are.equal("1i", dropped.rejected_by_influxdb)
        assert.are.equal("7i", stats.points_written)
        assert.are.equal("1i", stats.partial_writes)
        assert.are.equal("1i", stats.type_conflicts)
        assert.matches("field type conflict", stats.last_error)
    end)

    it("counts unparsable lines of a partial write", function()
        local hs = F.hindsight({ cfg = { batch_max_points = 3 }, handler = F.responses({
            { 400, json_error("partial write:\nunable to parse 'a b': invalid field format\n"
                .. "unable to parse 'c d': bad timestamp dropped=0") },
        }) })
        deliver_all(hs, 1, 3)
        assert.are.equal(3, hs.cp)
        hs.idle(6)
        local stats, _, dropped = hs.last_stats()
        assert.are.equal("2i", dropped.rejected_by_influxdb)
        assert.are.equal("1i", stats.points_written)
    end)

    it("drops a batch InfluxDB could not parse at all, and moves on", function()
        local hs = F.hindsight({ cfg = { batch_max_points = 2 }, handler = F.responses({
            { 400, json_error("unable to parse 'x y z': invalid field format") },
        }) })
        deliver_all(hs, 1, 4)
        assert.are.equal(4, hs.cp)
        assert.are.same({ [3] = 1, [4] = 1 }, written_values(hs))
        hs.idle(6)
        local _, _, dropped = hs.last_stats()
        assert.are.equal("2i", dropped.rejected_by_influxdb)
    end)

    it("isolates the point behind an unexplained 400 by splitting, writes all the others", function()
        local hs = F.hindsight({ cfg = { batch_max_points = 16 }, handler = refuse_point_13 })
        deliver_all(hs, 1, 16)
        assert.are.equal(16, hs.cp)
        local seen = written_values(hs)
        for i = 1, 16 do
            if i == 13 then assert.is_nil(seen[i]) else assert.are.equal(1, seen[i], "point " .. i) end
        end
        assert.is_true(hs.max_requests_per_call <= 8)
        hs.idle(6)
        local stats, _, dropped = hs.last_stats()
        assert.are.equal("1i", dropped.rejected_by_influxdb)
        assert.is_true(tonumber(stats.splits:match("%d+")) >= 4)
    end)

    it("keeps splitting across calls while new points are batched", function()
        local hs = F.hindsight({ cfg = { batch_max_points = 100 }, handler = refuse_point_13 })
        deliver_all(hs, 1, 40)
        hs.idle(6) -- the timer starts splitting; 8 requests per call at most
        deliver_all(hs, 41, 50)
        hs.idle(30)
        hs.stop()
        assert.are.equal(50, hs.cp)
        local seen = written_values(hs)
        for i = 1, 50 do
            if i == 13 then assert.is_nil(seen[i]) else assert.are.equal(1, seen[i], "point " .. i) end
        end
        assert.is_true(hs.max_requests_per_call <= 9) -- 8 for the data, 1 for self-monitoring
    end)

    it("splits a request that is too large (413) and writes everything", function()
        local hs = F.hindsight({ cfg = { batch_max_points = 8 }, handler = function(req)
            if #F.lines(req.body) > 2 then return 413, json_error("Request Entity Too Large") end
            req.accepted = true
            return 204, ""
        end })
        deliver_all(hs, 1, 8)
        assert.are.equal(8, hs.cp)
        local seen = written_values(hs)
        for i = 1, 8 do assert.are.equal(1, seen[i]) end
    end)
end)

describe("influxdb_out messages", function()
    it("writes Snap's collection time at the configured precision, exactly", function()
        for precision, ts in pairs({ ns = "1700000000123999999", u = "1700000000123999", ms = "1700000000123", s = "1700000000" }) do
            local hs = F.hindsight({ cfg = { batch_max_points = 2, precision = precision } })
            hs.deliver(snap(1, { timestamp = "1700000000123999999" }))
            hs.deliver(snap(2, { timestamp = "1700000000123999999" }))
            local req = hs.http.requests[1]
            assert.matches("precision=" .. precision .. "$", req.url)
            assert.are.equal(ts, F.lines(req.body)[1]:match(" (%d+)$"))
        end
    end)

    it("takes the last name field as the measurement", function()
        local hs = F.hindsight({ cfg = { batch_max_points = 2 } })
        for i = 1, 2 do
            hs.deliver(snap(i, { name = "intel.procfs.iface.bytes_recv", dynamic = { { "name", "eth" .. i } } }))
        end
        local lines = F.lines(hs.http.requests[1].body)
        assert.are.equal("intel.procfs.iface.bytes_recv,cluster=dev,environment=dev,hostname=node-1,name=eth1 value=1i"
            .. " 1700000000123", lines[1])
    end)

    it("skips NaN values (-2) and counts them", function()
        local hs = F.hindsight()
        hs.deliver(snap(1, { value = 0 / 0, value_type = 3 }))
        assert.are.same({ -2 }, hs.statuses)
        hs.idle(6)
        local _, _, dropped = hs.last_stats()
        assert.are.equal("1i", dropped.nan_inf)
    end)

    it("skips bad messages without raising, logs the first of a minute through -1", function()
        local hs = F.hindsight()
        hs.deliver(snap(1))
        hs.deliver("\1\2\3 not protobuf")
        hs.deliver(F.encode_message({ Timestamp = 1, Fields = { { name = "value", value = 1 } } })) -- no name
        hs.deliver(snap(2))
        assert.are.same({ -4, -1, -2, -4 }, hs.statuses)
        assert.are.equal(0, hs.cp) -- the batch is still held
        hs.idle(6)
        assert.are.equal(4, hs.cp)
        local stats, _, dropped = hs.last_stats()
        assert.are.equal("2i", dropped.bad_message)
        assert.matches("bad message", stats.last_error)
        assert.are.same({ [1] = 1, [2] = 1 }, written_values(hs))
    end)
end)

describe("influxdb_out self-monitoring", function()
    it("writes hindsight_output and hindsight_output_dropped with static tags, hostname and plugin", function()
        local hs = F.hindsight()
        deliver_all(hs, 1, 3)
        hs.idle(6)
        local stats, tags, dropped, lines = hs.last_stats()
        assert.are.same({ cluster = "dev", environment = "dev", hostname = "node-1", plugin = "output.influxdb" }, tags)
        assert.are.equal("3i", stats.points_written)
        assert.are.equal("3i", stats.messages_batched)
        assert.are.equal("1i", stats.requests)
        assert.are.equal("0i", stats.points_dropped)
        assert.are.equal("204i", stats.last_status)
        assert.are.equal('""', stats.last_error)
        assert.are.equal("0i", stats.backlog_points)
        assert.is_true(tonumber(stats.batch_latency_ms) > 0)
        assert.are.same({ bad_message = "0i", nan_inf = "0i", rejected_by_influxdb = "0i" }, dropped)
        assert.are.equal(4, #lines)
        assert.matches("^hindsight_output_dropped,cluster=dev,environment=dev,hostname=node%-1,plugin=output.influxdb,"
            .. "reason=bad_message points=0i %d+$", lines[2])
    end)

    it("writes them every ticker_interval, even without metrics", function()
        local hs = F.hindsight()
        hs.idle(16)
        local n = 0
        for _, req in ipairs(hs.http.requests) do
            if req.body:find("^hindsight_output") then n = n + 1 end
        end
        assert.are.equal(3, n)
    end)
end)

describe("influxdb_out delivery guarantee", function()
    it("commits only what InfluxDB took, under random failures", function()
        math.randomseed(5)
        local hs
        hs = F.hindsight({ cfg = { batch_max_points = 7, max_retry_backoff = 3 }, handler = function(req)
            local r = math.random()
            if r < 0.2 then return nil, "timeout" end
            if r < 0.35 then return 500, json_error("engine: cache maximum memory size exceeded") end
            req.accepted = true
            return 204, ""
        end })
        for i = 1, 300 do
            hs.deliver(snap(i))
            -- invariant: every committed message is in InfluxDB
            local seen = written_values(hs)
            for k = 1, hs.cp do assert.is_truthy(seen[k], "message " .. k .. " committed but not written") end
            if i % 50 == 0 then hs.idle(4) end
        end
        hs.idle(60)
        hs.stop()
        assert.are.equal(300, hs.cp)
        local seen = written_values(hs)
        for k = 1, 300 do assert.are.equal(1, seen[k], "message " .. k) end
    end)
end)
