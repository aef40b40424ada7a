-- busted spec: stacklight.influxdb_http (POST /write, GET /ping, basic auth, InfluxDB's answers)
local F = require "fake_hindsight"
local mime = require "mime"

local OPTS = {
    influxdb_url = "http://influxdb:8086", database = "stacklight", retention_policy = "stacklight",
    precision = "ms", timeout = 5,
}

-- The module in a fresh fake sandbox whose socket.http answers with handler; returns the
-- module, a client for opts (OPTS by default) and the fake socket.http.
local function load(handler, opts)
    local env, http = F.sandbox({ handler = handler })
    local influxdb_http = env.require "stacklight.influxdb_http"
    return influxdb_http, influxdb_http.new(opts or OPTS), http
end

local function json_error(msg)
    return '{"error":"' .. msg:gsub('"', '\\"') .. '"}\n'
end

describe("influxdb_http helpers", function()
    it("encodes base64 as mime does", function()
        local influxdb_http = load()
        math.randomseed(9)
        assert.are.equal("", influxdb_http.base64(""))
        for n = 1, 40 do
            local s = {}
            for i = 1, n do s[i] = string.char(math.random(0, 255)) end
            s = table.concat(s)
            assert.are.equal(mime.b64(s), influxdb_http.base64(s))
        end
    end)

    it("URL-encodes all but unreserved characters", function()
        local influxdb_http = load()
        assert.are.equal("my%20db%26x%2F%3D-._~Az09", influxdb_http.urlencode("my db&x/=-._~Az09"))
    end)
end)

describe("influxdb_http client", function()
    it("builds the write URL: db and rp encoded, an empty rp left out, the precision", function()
        local _, client = load()
        assert.are.equal("http://influxdb:8086/write?db=stacklight&rp=stacklight&precision=ms", client.write_url)
        _, client = load(nil, { influxdb_url = "https://i:8086", database = "a b", retention_policy = "", precision = "s", timeout = 2 })
        assert.are.equal("https://i:8086/write?db=a%20b&precision=s", client.write_url)
        assert.are.equal("https://i:8086/ping", client.ping_url)
    end)

    it("POSTs lines lo..hi joined by newlines, in chunks, with length, type and credentials", function()
        local seen
        local _, client, http = load(function(req)
            seen = req
            return 204, ""
        end)
        local lines = {}
        for i = 1, 1000 do lines[i] = "m value=" .. i .. "i" end
        client:set_basic_auth("hindsight", "s3cret")
        local code, err, body, ms = client:post(lines, 3, 700)
        assert.are.same({ 204, nil, "" }, { code, err, body })
        assert.is_true(ms >= 0)
        assert.are.equal("POST", seen.method)
        assert.are.equal(table.concat(lines, "\n", 3, 700), seen.body)
        assert.are.equal(tostring(#seen.body), seen.headers["content-length"])
        assert.are.equal("text/plain; charset=utf-8", seen.headers["content-type"])
        assert.are.equal("Basic " .. mime.b64("hindsight:s3cret"), seen.headers.authorization)
        assert.are.equal(5, seen.timeout)
        assert.are.equal(1, #http.requests)
    end)

    it("sends no credentials unless given some", function()
        local seen
        local _, client = load(function(req)
            seen = req
            return 204, ""
        end)
        client:post({ "m v=1" }, 1, 1)
        assert.is_nil(seen.headers.authorization)
    end)

    it("returns the answer (at most 64 KiB kept), no code when there was none, also on an exception", function()
        local answers = {
            function() return 400, json_error("bad") end,
            function() return nil, "connection refused" end,
            function() error("boom inside LuaSocket") end,
            function() return 500, string.rep("x", 70000) end,
        }
        local n = 0
        local _, client = load(function(req)
            n = n + 1
            return answers[n](req)
        end)
        local code, err, body = client:post({ "m v=1" }, 1, 1)
        assert.are.same({ 400, nil, json_error("bad") }, { code, err, body })
        code, err, body = client:post({ "m v=1" }, 1, 1)
        assert.are.same({ nil, "connection refused", "" }, { code, err, body })
        code, err = client:post({ "m v=1" }, 1, 1)
        assert.is_nil(code)
        assert.matches("boom inside LuaSocket", err)
        code, _, body = client:post({ "m v=1" }, 1, 1)
        assert.are.equal(500, code)
        assert.are.equal(70000, #body) -- one chunk: kept, the next would not be
    end)

    it("pings with a timeout of at most a second and restores the write timeout", function()
        local seen
        local up = true
        local _, client, http = load(function(req)
            seen = req
            if up then return 204, "" end
            return nil, "connection refused"
        end)
        assert.is_true(client:ping())
        assert.are.equal("GET", seen.method)
        assert.are.equal("http://influxdb:8086/ping", seen.url)
        assert.are.equal(1, seen.timeout)
        assert.are.equal(5, http.TIMEOUT)
        up = false
        assert.is_false(client:ping())
    end)
end)

describe("influxdb_http classify", function()
    local _, client = load()
    -- action, rejected, type_conflict for an answer to a request of n points
    local function verdict(code, body, n)
        local action, rejected, _, conflict = client:classify(code, nil, body, n)
        return { action, rejected, conflict }
    end

    it("takes 2xx and retries when there is no answer", function()
        assert.are.same({ "ok", 0, nil, false }, { client:classify(204, nil, "", 5) })
        assert.are.same({ "retry", 0, "no answer from InfluxDB: timeout", false }, { client:classify(nil, "timeout", "", 5) })
    end)

    it("commits a partial write, counting dropped= and the unparsable lines, within 1..n", function()
        local body = json_error('partial write: field type conflict: input field "value" is type integer dropped=2')
        assert.are.same({ "committed", 2, true }, verdict(400, body, 5))
        assert.matches("^HTTP 400: partial write: field type conflict", (select(3, client:classify(400, nil, body, 5))))
        body = json_error("partial write:\nunable to parse 'a': x\nunable to parse 'b': y dropped=0")
        assert.are.same({ "committed", 2, false }, verdict(400, body, 5))
        assert.are.same({ "committed", 1, false }, verdict(400, json_error("partial write: dropped=0"), 5))
        assert.are.same({ "committed", 3, false }, verdict(400, json_error("partial write: dropped=9"), 3))
    end)

    it("rejects a request InfluxDB could not parse at all, splits other 400s and 413", function()
        assert.are.same({ "reject_all", 4, false }, verdict(400, json_error("unable to parse 'x y z': invalid"), 4))
        assert.are.same({ "split", 0, false }, verdict(400, json_error("something else"), 4))
        assert.are.same({ "split", 0, false }, verdict(413, json_error("Request Entity Too Large"), 4))
        assert.are.same({ "split", 0, false }, verdict(400, '{"error":"unexpected \\"x', 4)) -- cut JSON: still InfluxDB's
    end)

    it("retries 5xx, 404, 401/403, 408, 429 and a 400 that is not InfluxDB's", function()
        for _, code in ipairs({ 500, 503, 404, 401, 403, 408, 429 }) do
            assert.are.same({ "retry", 0, false }, verdict(code, json_error("x"), 4))
        end
        assert.are.same({ "retry", 0, false }, verdict(400, "<html><body>400 Bad Request</body></html>", 4))
        assert.are.same({ "retry", 0, true }, verdict(500, json_error("field type conflict"), 4))
        assert.matches("does database stacklight exist", (select(3, client:classify(404, nil, json_error("database not found"), 4))))
        assert.matches("check username and password", (select(3, client:classify(401, nil, json_error("authorization failed"), 4))))
    end)
end)

describe("influxdb_http", function()
    it("defines no globals", function()
        local before = {}
        for k in pairs(_G) do before[k] = true end
        package.loaded["stacklight.influxdb_http"] = nil
        require "stacklight.influxdb_http"
        for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
    end)
end)
