-- hindsight.cfg as Hindsight 0.16 reads it (src/hs_config.c hs_load_config and
-- load_sandbox_defaults), for the stage's input and output processes: the same checks in the
-- same order, the same messages, so a cfg the real Hindsight refuses is refused here too.
--
--   local cfg = hs_config.load_dir(config_dir)   -- a refused cfg ends the process, logged
--   local cfg, err = hs_config.load(path)
--   -- err: "loading <path> failed: input_defaults must be a table" (logged by the caller
--   --      under the module name "config_parser", as Hindsight logs it)
--   cfg.output_defaults.memory_limit ...   -- each type's defaults, Hindsight's where unset

local util = require "util"

local M = {}

local UINT_MAX = 4294967295
local MAX_ANALYSIS_THREADS = 64
local QUEUE_OPTIONS = { both = true, input = true, analysis = true }

-- each reader takes the value out of `t`, as hs_config.c removes what it has read
local function unsigned(t, key, default)
  local v = t[key]
  t[key] = nil
  if v == nil then return default end
  if type(v) ~= "number" then error(key .. " must be set to a number", 0) end
  if v < 0 or v > UINT_MAX then error(key .. " must be an unsigned int", 0) end
  return math.floor(v)
end

local function uint8(t, key, default)
  local v = t[key]
  t[key] = nil
  if v == nil then return default end
  if type(v) ~= "number" then error(key .. " must be set to a number", 0) end
  if v < 0 or v > 255 then error(key .. " must be a uint8_t", 0) end
  return math.floor(v)
end

local function str(t, key, default)
  local v = t[key]
  t[key] = nil
  if type(v) == "number" then return tostring(v) end -- lua_tolstring converts numbers
  if type(v) ~= "string" then
    if default == nil then error(key .. " must be set to a string", 0) end
    return default
  end
  return v
end

local function bool(t, key, default)
  local v = t[key]
  t[key] = nil
  if v == nil then return default end
  -- hs_config.c names preserve_data in this message whatever the key
  if type(v) ~= "boolean" then error("preserve_data must be set to a bool", 0) end
  return v
end

local function option(t, key, default)
  local v = t[key]
  t[key] = nil
  if v == nil then return default end
  if type(v) ~= "string" then error(key .. " must be set to a string", 0) end
  if not QUEUE_OPTIONS[v] then error(key .. " invalid option " .. v, 0) end
  return v
end

local function no_unknown_options(t, parent)
  local key = next(t)
  if key == nil then return end
  if type(key) ~= "string" then error("non string key", 0) end
  error(parent and string.format("invalid option: '%s.%s'", parent, key) or string.format("invalid option: '%s'", key), 0)
end

-- init_sandbox_config, then init_config's changes for inputs and outputs: what a plugin of
-- `kind` ("input", "analysis", "output") gets where neither hindsight.cfg nor its cfg says
function M.sandbox_defaults(kind)
  return {
    output_limit = 64 * 1024, memory_limit = 8 * 1024 * 1024, instruction_limit = 1000000,
    ticker_interval = 0, preserve_data = false, restricted_headers = kind == "analysis",
    shutdown_on_terminate = false, remove_checkpoints_on_terminate = false, read_queue = "both",
    process_message_inject_limit = 0, timer_event_inject_limit = 10,
  }
end

local function load_sandbox_defaults(values, key, kind)
  local t = values[key]
  if type(t) ~= "table" then error(key .. " must be a table", 0) end
  local d = M.sandbox_defaults(kind)
  d.output_limit = unsigned(t, "output_limit", d.output_limit)
  d.memory_limit = unsigned(t, "memory_limit", d.memory_limit)
  d.instruction_limit = unsigned(t, "instruction_limit", d.instruction_limit)
  d.ticker_interval = unsigned(t, "ticker_interval", d.ticker_interval)
  d.preserve_data = bool(t, "preserve_data", d.preserve_data)
  d.restricted_headers = bool(t, "restricted_headers", d.restricted_headers)
  d.shutdown_on_terminate = bool(t, "shutdown_on_terminate", d.shutdown_on_terminate)
  if kind == "analysis" then
    d.process_message_inject_limit = unsigned(t, "process_message_inject_limit", d.process_message_inject_limit)
    d.timer_event_inject_limit = unsigned(t, "timer_event_inject_limit", d.timer_event_inject_limit)
  end
  if kind == "output" then
    d.remove_checkpoints_on_terminate = bool(t, "remove_checkpoints_on_terminate", d.remove_checkpoints_on_terminate)
    d.read_queue = option(t, "read_queue", d.read_queue)
  end
  no_unknown_options(t, key)
  values[key] = nil
  return d
end

local function parse(values)
  local c = {}
  c.max_message_size = unsigned(values, "max_message_size", 64 * 1024)
  if c.max_message_size < 1024 then error("max_message_size must be > 1023", 0) end
  c.output_path = str(values, "output_path")
  c.output_size = unsigned(values, "output_size", 64 * 1024 * 1024)
  c.backpressure = unsigned(values, "backpressure", 0)
  c.backpressure_disk_free = unsigned(values, "backpressure_disk_free", 4)
  c.sandbox_load_path = str(values, "sandbox_load_path", "")
  c.analysis_utilization_limit = uint8(values, "analysis_utilization_limit", 95)
  if c.analysis_utilization_limit > 100 then error("analysis_utilization_limit must be 0-100", 0) end
  c.sandbox_run_path = str(values, "sandbox_run_path")
  c.sandbox_install_path = str(values, "sandbox_install_path", "/usr/share/luasandbox/sandboxes/heka")
  c.io_lua_path = str(values, "io_lua_path")
  c.io_lua_cpath = str(values, "io_lua_cpath")
  c.analysis_lua_path = str(values, "analysis_lua_path")
  c.analysis_lua_cpath = str(values, "analysis_lua_cpath")
  c.hostname = str(values, "hostname", util.hostname())
  c.analysis_threads = uint8(values, "analysis_threads", 1)
  if c.analysis_threads < 1 or c.analysis_threads > MAX_ANALYSIS_THREADS then
    error("analysis_threads must be 1-" .. MAX_ANALYSIS_THREADS, 0)
  end
  c.input_defaults = load_sandbox_defaults(values, "input_defaults", "input")
  c.analysis_defaults = load_sandbox_defaults(values, "analysis_defaults", "analysis")
  c.output_defaults = load_sandbox_defaults(values, "output_defaults", "output")
  for _, kind in ipairs({ "input_defaults", "analysis_defaults", "output_defaults" }) do
    if c.max_message_size < c[kind].output_limit then
      error("max_message_size must be greater than or equal to the sandbox output_limit", 0)
    end
  end
  no_unknown_options(values)
  return c
end

-- The config of a stage process: DIR/hindsight.cfg read as Hindsight reads it, or, without
-- one, Hindsight's defaults; a cfg Hindsight refuses ends the process as it ends Hindsight.
function M.load_dir(dir)
  local path = dir .. "/hindsight.cfg"
  if not util.file_exists(path) then
    return {
      max_message_size = 64 * 1024, output_size = 64 * 1024 * 1024,
      input_defaults = M.sandbox_defaults("input"), output_defaults = M.sandbox_defaults("output"),
    }
  end
  local cfg, err = M.load(path)
  if not cfg then
    util.log(3, "config_parser", "%s", err)
    os.exit(2)
  end
  return cfg
end

function M.load(path)
  local values, err = util.load_cfg(path)
  if values then
    local ok, result = pcall(parse, values)
    if ok then return result end
    err = result
  end
  return nil, string.format("loading %s failed: %s", path, tostring(err))
end

return M
