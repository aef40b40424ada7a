-- busted spec: stacklight.influxdb_config (the output's keys, read and checked once)
local F = require "fake_hindsight"
local config = require "stacklight.influxdb_config"

-- config.read over F.default_cfg with overrides (false removes a key).
local function read(overrides)
    local cfg = {}
    for k, v in pairs(F.default_cfg) do cfg[k] = v end
    for k, v in pairs(overrides or {}) do
        if v == false then cfg[k] = nil else cfg[k] = v end
    end
    return config.read(function(key) return cfg[key] end)
end

local function refusal(overrides)
    local ok, err = pcall(read, overrides)
    assert.is_false(ok)
    return err
end

describe("influxdb_config", function()
    it("reads the keys, with their defaults", function()
        local c = read({ retention_policy = false, precision = false, batch_max_points = false, batch_max_bytes = false,
            timeout = false, max_retry_backoff = false, static_tags = false, excluded_tags = false, username = false,
            password_env = false, memory_limit = false })
        assert.are.same({
            influxdb_url = "http://influxdb.monitoring.svc:8086", database = "stacklight", retention_policy = "",
            precision = "ms", batch_max_points = 5000, batch_max_bytes = 524288, memory_limit = 8388608,
            cache_bytes = 131072, timeout = 5, max_retry_backoff = 30, static_tags = {},
            excluded_tags = { "plugin_running_on" }, hostname = "node-1", plugin_name = "output.influxdb",
            username = "", password_env = "", password_file = "",
        }, c)
    end)

    it("drops trailing slashes of the URL, caps the batch at memory_limit/16", function()
        assert.are.equal("https://i:8086", read({ influxdb_url = "https://i:8086//" }).influxdb_url)
        local c = read({ batch_max_bytes = 1e9, memory_limit = 16000, batch_max_points = 10.7 })
        assert.are.same({ 1000, 250, 10 }, { c.batch_max_bytes, c.cache_bytes, c.batch_max_points })
        c = read({ memory_limit = 0, batch_max_bytes = 1e9 })
        assert.are.same({ 1e9 }, { c.batch_max_bytes, c.cache_bytes })
    end)

    it("falls back to unknown / output.influxdb for a missing Hostname / Logger", function()
        local c = read({ Hostname = "", Logger = false })
        assert.are.same({ "unknown", "output.influxdb" }, { c.hostname, c.plugin_name })
    end)

    it("refuses bad values, naming the key", function()
        assert.are.equal("influxdb_url must be set", refusal({ influxdb_url = false }))
        assert.are.equal("database must be set", refusal({ database = "" }))
        assert.are.equal("retention_policy must be a string", refusal({ retention_policy = 1 }))
        assert.are.equal("precision must be one of ns, u, ms, s; got m", refusal({ precision = "m" }))
        assert.are.equal("batch_max_points must be a number >= 1, got 0", refusal({ batch_max_points = 0 }))
        assert.are.equal("timeout must be a number >= 0.001, got nan", (refusal({ timeout = 0 / 0 }):gsub("%-nan", "nan")))
        assert.are.equal("max_retry_backoff must be a number >= 1, got x", refusal({ max_retry_backoff = "x" }))
        assert.are.equal("static_tags must be a table", refusal({ static_tags = "cluster=dev" }))
        assert.are.equal("excluded_tags must be an array of tag names", refusal({ excluded_tags = "x" }))
        assert.are.equal("password must not be set in the cfg: use password_env or password_file", refusal({ password = "plain" }))
    end)

    it("defines no globals", function()
        local before = {}
        for k in pairs(_G) do before[k] = true end
        package.loaded["stacklight.influxdb_config"] = nil
        require "stacklight.influxdb_config"
        for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
    end)
end)
