-- This Source Code Form is part of ms-stacklight.
--[[
# stacklight.influxdb_config

The configuration of the InfluxDB output (lua/output/influxdb_out.lua), read and checked once,
when the plugin loads: a wrong value fails the load with a message naming the key. The keys
are those of InfluxdbOutputCfg in compiler/collector/hindsight.ts.

    influxdb_url      = "http://influxdb:8086"  -- required; no trailing slash needed
    database          = "stacklight"            -- required
    retention_policy  = "stacklight"            -- "" or nil: the database's default
    precision         = "ms"                    -- ns | u | ms | s (default ms)
    username          = "hindsight"             -- "" or nil: no authentication
    password_env      = "INFLUXDB_PASSWORD"     -- environment variable holding the password
    password_file     = nil                     -- or a file holding it (a mounted Secret); wins
                                                -- over password_env. A `password` key is refused.
    batch_max_points  = 5000                    -- flush when this many points are batched...
    batch_max_bytes   = 524288                  -- ...or this many bytes (capped at memory_limit/16)
    ticker_interval   = 5                       -- ...or every ticker_interval seconds (timer_event)
    timeout           = 5                       -- seconds per socket operation (LuaSocket's is 60)
    static_tags       = { cluster = "prod" }    -- added to every point (win over message tags)
    excluded_tags     = { "plugin_running_on" } -- message tags not written
    max_retry_backoff = 30                      -- optional: longest delay between retries (s)
    memory_limit, instruction_limit, output_limit -- sandbox limits, usually from hindsight.cfg's
                                                  -- output_defaults (memory_limit caps the batch)
Hindsight adds Hostname (the self-monitoring points' hostname tag) and Logger (their plugin tag).

API:
    local config = require "stacklight.influxdb_config"
    local cfg = config.read(read_config) -- the sandbox's read_config; raises on a bad value
    -- cfg: the keys above (defaults applied, influxdb_url without trailing slashes, batch_max_bytes
    -- capped), plus cache_bytes (the series cache's budget, nil without a memory_limit),
    -- hostname and plugin_name
--]]

local string = require "string"
local math = require "math"
local hm = require "stacklight.heka_metric"

local format, gsub = string.format, string.gsub
local floor = math.floor
local type, tostring, error = type, tostring, error

local M = {}

function M.read(read_config)
    local function cfg(key, default)
        local v = read_config(key)
        if v == nil then return default end
        return v
    end

    local function cfg_number(key, default, minimum)
        local v = cfg(key, default)
        if type(v) ~= "number" or v ~= v or v < minimum then
            error(format("%s must be a number >= %s, got %s", key, tostring(minimum), tostring(v)), 0)
        end
        return v
    end

    local function cfg_string(key, default, required)
        local v = cfg(key, default)
        if v == nil or (required and v == "") then error(key .. " must be set", 0) end
        if type(v) ~= "string" then error(key .. " must be a string", 0) end
        return v
    end

    local c = {}
    c.influxdb_url = gsub(cfg_string("influxdb_url", nil, true), "/+$", "")
    c.database = cfg_string("database", nil, true)
    c.retention_policy = cfg_string("retention_policy", "")
    c.precision = cfg_string("precision", "ms")
    if not hm.DIVISORS[c.precision] then error("precision must be one of ns, u, ms, s; got " .. c.precision, 0) end
    c.batch_max_points = floor(cfg_number("batch_max_points", 5000, 1))
    c.batch_max_bytes = floor(cfg_number("batch_max_bytes", 524288, 1))
    c.memory_limit = cfg_number("memory_limit", 8388608, 0)
    -- lua_sandbox refuses any allocation past memory_limit, garbage included (Lua 5.1 has no
    -- emergency collection), and the plugin is terminated. The heap peaks at three to four times
    -- what is live (Lua 5.1's collector lets garbage grow to the live size before a cycle, and
    -- more is allocated during it), and what is live at a flush is the batch's lines, the chunk
    -- of the request body being sent and the series cache: hence a sixteenth for the batch and a
    -- sixty-fourth for each of the cache's two generations (compiler/config/validate.ts refuses
    -- configs beyond the first; test/lua/memory_probe.lua measures the peak).
    if c.memory_limit > 0 and c.batch_max_bytes > c.memory_limit / 16 then
        c.batch_max_bytes = floor(c.memory_limit / 16)
    end
    c.cache_bytes = c.memory_limit > 0 and floor(c.memory_limit / 64) or nil
    c.timeout = cfg_number("timeout", 5, 0.001)
    c.max_retry_backoff = cfg_number("max_retry_backoff", 30, 1)
    c.static_tags = cfg("static_tags", {})
    if type(c.static_tags) ~= "table" then error("static_tags must be a table", 0) end
    c.excluded_tags = cfg("excluded_tags", { "plugin_running_on" })
    if type(c.excluded_tags) ~= "table" then error("excluded_tags must be an array of tag names", 0) end
    c.hostname = cfg("Hostname", "")
    if type(c.hostname) ~= "string" or c.hostname == "" then c.hostname = "unknown" end
    c.plugin_name = cfg("Logger", "output.influxdb")
    if type(c.plugin_name) ~= "string" then c.plugin_name = "output.influxdb" end

    -- Authentication: never from the cfg itself.
    if read_config("password") ~= nil then
        error("password must not be set in the cfg: use password_env or password_file", 0)
    end
    c.username = cfg_string("username", "")
    c.password_env = cfg_string("password_env", "")
    c.password_file = cfg_string("password_file", "")
    return c
end

return M
