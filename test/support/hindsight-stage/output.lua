-- Hindsight test stage: hosts ONE output plugin, unmodified, the way Hindsight 0.16 runs it
-- (src/hs_output_plugins.c: input_thread/output_message; lua_sandbox src/heka/sandbox.c).
--
--   lua5.1 output.lua --config-dir DIR --output-dir DIR --plugin NAME [options]
--
-- DIR layout (what the compiler emits): run/output/NAME.cfg and its .lua, modules/**.lua,
-- optionally hindsight.cfg (read and checked as Hindsight does: lib/hs_config.lua; its
-- max_message_size, output_size, hostname and output_defaults are honoured).
-- It reads the queue the input process writes (<output-dir>/input/<id>.log), evaluates the
-- message_matcher, calls process_message/timer_event and keeps the checkpoint in
-- <output-dir>/output.NAME.cp. A clean stop is asked by closing stdin (or writing "stop").
-- Events for the TypeScript wrapper go to stdout ("@@stage {json}"), logs to stderr.
--
-- Options: --retry-delay S (1: Hindsight re-offers a -3 message every second),
-- --poll-interval S (0.02; Hindsight sleeps 1 s when the queue is idle), --checkpoint-interval S
-- (1), --stagger (random first timer_event like Hindsight; default: one ticker_interval after
-- start), --install-dir DIR (second place to look for the .lua), --log-level N (7).

local here = arg[0]:match("^(.*)/[^/]*$") or "."
-- the stage's lib/, and lua/modules for the product's protobuf primitives (lib/heka.lua)
package.path = here .. "/lib/?.lua;" .. here .. "/../../../lua/modules/?.lua;" .. package.path

local util = require "util"
local heka = require "heka"
local matcher = require "matcher"
local sandbox = require "sandbox"
local hs_config = require "hs_config"
local output_loop = require "output_loop"

local floor, ceil = math.floor, math.ceil

local ok_args, opts = pcall(util.parse_args, arg, {
  config_dir = "", output_dir = "", plugin = "", retry_delay = 1, poll_interval = 0.02,
  checkpoint_interval = 1, stagger = false, install_dir = "", log_level = 7, hostname = "",
})
if not ok_args then
  io.stderr:write(tostring(opts), "\n")
  os.exit(2)
end
if opts.config_dir == "" or opts.output_dir == "" or opts.plugin == "" then
  io.stderr:write("usage: lua5.1 output.lua --config-dir DIR --output-dir DIR --plugin NAME\n")
  os.exit(2)
end
util.set_log_level(opts.log_level)
math.randomseed(os.time() + util.pid())

local NAME = "output." .. opts.plugin
local RUN_DIR = opts.config_dir .. "/run"
local CFG_FILE = RUN_DIR .. "/output/" .. opts.plugin .. ".cfg"
local ERR_FILE = RUN_DIR .. "/output/" .. opts.plugin .. ".err"
local QUEUE_DIR = opts.output_dir .. "/input"
local CP_FILE = opts.output_dir .. "/" .. NAME .. ".cp"
local CP_KEY = "input->" .. NAME
local STATS_FILE = opts.output_dir .. "/" .. NAME .. ".stats.json"
local LSB_ERROR_SIZE = 256

-- the plugin state
local S = {
  stop = false,
  detached = false,   -- the plugin thread has exited (Hindsight wrote the .err)
  lsb_terminated = false, -- lua_sandbox's state is TERMINATED (lua_close'd)
  error = "",
  loop = nil,         -- lib/output_loop.lua: the batching flag, the sequence id, the ticker
  cp = { id = 0, offset = 0 }, -- committed
  cur = { id = 0, offset = 0 }, -- after the message being processed
  current = nil,      -- the message read_message sees
  cp_dirty = true,
}

local stats = {
  plugin = NAME, read = 0, matched = 0, process_message = 0, returns = {}, retries = 0,
  timer_events = 0, shutdown_timer_events = 0, update_checkpoint = 0, failures = 0,
  terminated = false, error = "", max_memory = 0, checkpoint = "", batching = false,
  decoder = heka.native and "c" or "lua",
}

local function log(level, fmt, ...) util.log(level, NAME, fmt, ...) end

local function truncate(msg)
  if #msg >= LSB_ERROR_SIZE then return msg:sub(1, LSB_ERROR_SIZE - 1) end
  return msg
end

---------------------------------------------------------------------------------------------
-- configuration (hs_load_sandbox_config + hs_output_runtime_cfg)

local hs = hs_config.load_dir(opts.config_dir)
local max_message_size = hs.max_message_size
local output_size = hs.output_size
local hostname = opts.hostname ~= "" and opts.hostname or hs.hostname or util.hostname()
local defaults = hs.output_defaults
local module_path = opts.config_dir .. "/modules/?.lua"

local function fail_load(err)
  log(3, "%s create_output_plugin failed: %s", NAME, err)
  util.event({ event = "load_failed", plugin = NAME, error = err })
  S.detached = true
  S.load_failed = true
end

local function unsigned(cfg, key, default)
  local v = cfg[key]
  if v == nil then return default end
  if type(v) ~= "number" then error(key .. " must be set to a number", 0) end
  if v < 0 or v > 4294967295 then error(key .. " must be an unsigned int", 0) end
  return floor(v)
end

local function boolean(cfg, key, default)
  local v = cfg[key]
  if v == nil then return default end
  if type(v) ~= "boolean" then error(key .. " must be set to a bool", 0) end
  return v
end

local cfg, runtime
local function load_config()
  local values, err = util.load_cfg(CFG_FILE)
  if not values then error(err, 0) end
  local c = {}
  c.output_limit = unsigned(values, "output_limit", defaults.output_limit)
  c.memory_limit = unsigned(values, "memory_limit", defaults.memory_limit)
  c.instruction_limit = unsigned(values, "instruction_limit", defaults.instruction_limit)
  c.ticker_interval = unsigned(values, "ticker_interval", defaults.ticker_interval)
  if type(values.filename) ~= "string" then error("filename must be set to a string", 0) end
  if values.filename:find("[/\\]") then error("filename must not contain a path component", 0) end
  if not values.filename:match(".%.lua$") then error("filename must have a .lua extension", 0) end
  c.filename = values.filename
  c.preserve_data = boolean(values, "preserve_data", defaults.preserve_data)
  c.restricted_headers = boolean(values, "restricted_headers", defaults.restricted_headers)
  c.shutdown_on_terminate = boolean(values, "shutdown_on_terminate", defaults.shutdown_on_terminate)
  if type(values.message_matcher) ~= "string" then error("message_matcher must be set to a string", 0) end
  c.message_matcher = values.message_matcher
  c.async_buffer_size = unsigned(values, "async_buffer_size", 0)
  c.remove_checkpoints_on_terminate = boolean(values, "remove_checkpoints_on_terminate", defaults.remove_checkpoints_on_terminate)
  local rq = values.read_queue
  if rq ~= nil and rq ~= "both" and rq ~= "input" and rq ~= "analysis" then
    error("read_queue invalid option " .. tostring(rq), 0)
  end
  c.read_queue = rq or defaults.read_queue

  -- what read_config sees: the original cfg, then Hindsight's defaults and overrides
  local r = {}
  for k, v in pairs(values) do r[k] = v end
  r.Hostname = hostname
  r.Pid = util.pid()
  r.log_level = opts.log_level
  r.path = module_path
  r.cpath = ""
  r.output_path = opts.output_dir
  r.output_size = output_size
  r.max_message_size = max_message_size
  r.sandbox_load_path = ""
  r.sandbox_run_path = RUN_DIR
  r.sandbox_install_path = opts.install_dir
  r.Logger = NAME
  r.output_limit = c.output_limit
  r.memory_limit = c.memory_limit
  r.instruction_limit = c.instruction_limit
  r.ticker_interval = c.ticker_interval
  r.preserve_data = c.preserve_data
  r.restricted_headers = c.restricted_headers
  r.shutdown_on_terminate = c.shutdown_on_terminate
  r.async_buffer_size = c.async_buffer_size
  r.remove_checkpoints_on_terminate = c.remove_checkpoints_on_terminate
  r.read_queue = c.read_queue
  return c, r
end

---------------------------------------------------------------------------------------------
-- checkpoints

local function read_checkpoint()
  if not util.file_exists(CP_FILE) then return nil end
  local values = util.load_cfg(CP_FILE)
  local v = values and values[CP_KEY]
  if type(v) ~= "string" then return nil end
  local id, offset = v:match("^(%d+):(%d+)$")
  if not id then return nil end
  return { id = tonumber(id), offset = tonumber(offset) }
end

local function first_queue_id()
  local lowest
  for _, name in ipairs(util.list_dir(QUEUE_DIR)) do
    local id = tonumber(name:match("^(%d+)%.log$"))
    if id and (not lowest or id < lowest) then lowest = id end
  end
  return lowest or 0
end

local remove_checkpoint = false
local function write_checkpoint()
  stats.checkpoint = string.format("%d:%d", S.cp.id, S.cp.offset)
  stats.batching = S.loop ~= nil and S.loop.batching
  stats.max_memory = S.sb and S.sb.max_memory or 0
  stats.error = S.error
  if S.cp_dirty then
    if remove_checkpoint then
      os.remove(CP_FILE)
    else
      util.write_file(CP_FILE, string.format("-- hindsight test stage checkpoints\n_G[%q] = %q\n",
        CP_KEY, stats.checkpoint))
    end
    S.cp_dirty = false
  end
  util.write_file(STATS_FILE, util.json(stats) .. "\n")
end

local function commit(pos)
  if S.cp.id ~= pos.id or S.cp.offset ~= pos.offset then
    S.cp = { id = pos.id, offset = pos.offset }
    S.cp_dirty = true
  end
end

---------------------------------------------------------------------------------------------
-- the queue (hs_input: files of framed records, read with lsb_find_heka_message)

local Queue = {}
Queue.__index = Queue

function Queue.new(id, offset)
  return setmetatable({
    id = id, offset = offset, fh = nil, reader = heka.stream_reader(max_message_size),
  }, Queue)
end

function Queue:open(id, offset)
  local fh = io.open(string.format("%s/%d.log", QUEUE_DIR, id), "rb")
  if not fh then return false end
  if self.fh then self.fh:close() end
  self.fh = fh
  self.id = id
  self.offset = offset
  self.reader = heka.stream_reader(max_message_size)
  return true
end

-- the next message and the position after it; nil when no more data is there yet
function Queue:next()
  if not self.fh and not self:open(self.id, self.offset) then return nil end
  while true do
    local m = self.reader:find(true)
    if m then
      return m, { id = self.id, offset = self.offset - self.reader:buffered() }
    end
    -- seeking clears the sticky EOF of stdio, so data appended since the last read is seen
    self.fh:seek("set", self.offset)
    local want = self.reader:need()
    if want < 4096 then want = 4096 end
    if want > 65536 then want = 65536 end
    local room = self.reader.maxsize - self.reader:buffered()
    if want > room then want = room end
    if want < 1 then want = 1 end
    local data = self.fh:read(want)
    if data and #data > 0 then
      self.offset = self.offset + #data
      if not self.reader:append(data) then
        -- cannot happen with frames this process reads; drop the buffer like a corrupt stream
        self.reader = heka.stream_reader(max_message_size)
      end
    else
      if self.offset >= output_size then self:open(self.id + 1, 0) end
      return nil
    end
  end
end

---------------------------------------------------------------------------------------------
-- the plugin

local mm            -- message matcher
local proxies = setmetatable({}, { __mode = "k" })
local seq_proxy
local async_cp = {}

local function detach(err)
  -- the plugin thread exits: Hindsight logs, writes <run>/output/<name>.err and keeps the
  -- committed checkpoint
  S.detached = true
  S.error = err
  stats.terminated = true
  stats.error = err
  log(3, "terminated: %s", err)
  -- written whole (tmp + rename) so a reader never sees it half-written
  pcall(util.write_file, ERR_FILE, os.date("!%Y-%m-%dT%H:%M:%S") .. "\t" .. err .. "\n")
  if cfg and cfg.remove_checkpoints_on_terminate then remove_checkpoint = true end
  S.cp_dirty = true
  write_checkpoint()
  util.event({ event = "terminated", plugin = NAME, error = err })
  if cfg and cfg.shutdown_on_terminate then
    log(6, "shutting down on terminate")
    S.stop = true
  end
end

local function lsb_terminate(err)
  S.lsb_terminated = true
  S.error = truncate(err)
end

local function error_text(e)
  if type(e) == "string" or type(e) == "number" then return tostring(e) end
  return "<nil error message>"
end

local function to_int(n)
  if n ~= n then return -2147483648 end
  if n >= 0 then return floor(n) end
  return ceil(n)
end

local function get_seq_proxy(seq)
  if seq_proxy and proxies[seq_proxy] == seq then return seq_proxy end
  seq_proxy = newproxy(false)
  proxies[seq_proxy] = seq
  return seq_proxy
end

-- lsb_heka_pm_output + process_message (src/heka/sandbox.c)
local function pm_output(m, sequence_id)
  if S.lsb_terminated then
    lsb_terminate("process_message() function was not found")
    return 1
  end
  local f = S.sb:fn("process_message")
  if not f then
    lsb_terminate("process_message() function was not found")
    return 1
  end
  S.current = m
  local r = { S.sb:call(f, get_seq_proxy(sequence_id)) }
  if not r[1] then
    lsb_terminate("process_message() " .. error_text(r[2]))
    return 1
  end
  S.current = nil
  local status, emsg = r[2], r[3]
  if type(status) ~= "number" then
    lsb_terminate("process_message() must return a numeric status code")
    return 1
  end
  if emsg ~= nil and type(emsg) ~= "string" then
    lsb_terminate("process_message() must return a nil or string error message")
    return 1
  end
  S.error = emsg and truncate(emsg) or ""
  status = to_int(status)
  stats.process_message = stats.process_message + 1
  local key = tostring(status)
  stats.returns[key] = (stats.returns[key] or 0) + 1
  if status > 0 then
    lsb_terminate("process_message() received a termination status code")
    return 1
  elseif status == -1 then
    stats.failures = stats.failures + 1
  end
  return status
end

-- lsb_heka_timer_event
local function timer_event(t, shutdown)
  if S.lsb_terminated then return 1 end
  local f = S.sb:fn("timer_event")
  if not f then
    lsb_terminate("timer_event() function was not found")
    return 1
  end
  S.current = nil
  local ok, err = S.sb:call(f, t * 1e9, shutdown)
  if not ok then
    lsb_terminate("timer_event() " .. error_text(err))
    return 1
  end
  if shutdown then
    stats.shutdown_timer_events = stats.shutdown_timer_events + 1
  else
    stats.timer_events = stats.timer_events + 1
  end
  collectgarbage("collect")
  return 0
end

-- output_message (src/hs_output_plugins.c): the matcher, then lib/output_loop.lua
local loop_hooks = {
  process_message = function(m, sequence_id)
    if not mm:eval(m) then return nil end
    stats.matched = stats.matched + 1
    if cfg.async_buffer_size > 0 then
      async_cp[sequence_id % cfg.async_buffer_size] = { id = S.cur.id, offset = S.cur.offset }
    end
    local ret = pm_output(m, sequence_id)
    if ret == -1 and S.error ~= "" then log(4, "process_message returned: %d %s", ret, S.error) end
    return ret
  end,
  timer_event = function(t) return timer_event(t, false) end,
  commit = function() commit(S.cur) end,
  terminate = function(reason) lsb_terminate(reason) end,
}
local function output_message(m, current_t)
  return S.loop:output_message(m, current_t, loop_hooks)
end

-- update_checkpoint() / update_checkpoint(sequence_id[, failures]) (update_checkpoint_callback)
local function update_checkpoint(...)
  local n = select("#", ...)
  local seq_arg, failures = ...
  if n > 2 then error("update_checkpoint() invalid number of args: " .. n, 2) end
  if n == 2 then
    if type(failures) ~= "number" then
      error("bad argument #2 to 'update_checkpoint' (number expected, got " .. type(failures) .. ")", 2)
    end
    stats.failures = stats.failures + failures
  end
  stats.update_checkpoint = stats.update_checkpoint + 1
  if n >= 1 then
    local seq = proxies[seq_arg]
    if type(seq_arg) ~= "userdata" or seq == nil then
      error("bad argument #1 to 'update_checkpoint' (lightuserdata expected, got " .. type(seq_arg) .. ")", 2)
    end
    if cfg.async_buffer_size > 0 then
      local a = async_cp[seq % cfg.async_buffer_size]
      if a and ((a.id == S.cp.id and a.offset > S.cp.offset) or a.id > S.cp.id) then commit(a) end
      return
    end
  end
  S.loop:update_checkpoint(loop_hooks.commit)
end

local function create_message_matcher(expression)
  local compiled, err = matcher.compile(expression)
  if not compiled then error("invalid message matcher: " .. tostring(err), 2) end
  return {
    eval = function()
      if not S.current then return false end
      return compiled:eval(S.current)
    end,
  }
end

local function load_plugin()
  os.remove(ERR_FILE) -- Hindsight prunes .err files of the run directory at start
  local ok, c, r = pcall(load_config)
  if not ok then return fail_load(c) end
  cfg, runtime = c, r
  S.loop = output_loop.new({ ticker_interval = cfg.ticker_interval, async_buffer_size = cfg.async_buffer_size })
  -- the runtime configuration Hindsight writes next to its queues
  local rtc = { "-- the runtime configuration of " .. NAME .. " (hindsight test stage)" }
  local keys = {}
  for k in pairs(runtime) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do rtc[#rtc + 1] = string.format("%s = %s", k, util.lua_value(runtime[k])) end
  util.write_file(opts.output_dir .. "/" .. NAME .. ".rtc", table.concat(rtc, "\n") .. "\n")

  if cfg.preserve_data then log(4, "preserve_data is not supported by the test stage: ignored") end
  local lua_file = RUN_DIR .. "/output/" .. cfg.filename
  if not util.file_exists(lua_file) and opts.install_dir ~= "" then
    lua_file = opts.install_dir .. "/output/" .. cfg.filename
  end
  if not util.file_exists(lua_file) then
    return fail_load("failed to find the specified lua filename: " .. cfg.filename)
  end
  local compiled, merr = matcher.compile(cfg.message_matcher)
  if not compiled then return fail_load("invalid message_matcher: " .. merr) end
  mm = compiled

  local sb = sandbox.new({
    name = NAME, config = runtime, path = module_path,
    instruction_limit = cfg.instruction_limit, memory_limit = cfg.memory_limit,
  })
  local env = sb.env
  env.read_message = function(var, fi, ai) return heka.read_message(S.current, var, fi, ai) end
  env.decode_message = function(s)
    local msg = heka.decode_message(s)
    return msg
  end
  env.encode_message = function()
    error("encode_message() is not provided by the hindsight test stage", 2)
  end
  env.update_checkpoint = update_checkpoint
  env.create_message_matcher = create_message_matcher
  S.sb = sb
  local lok, lerr = sb:load(lua_file)
  if not lok then return fail_load(lerr) end
  return true
end

---------------------------------------------------------------------------------------------
-- main loop (input_thread)

util.mkdir_p(QUEUE_DIR)
local start_cp = read_checkpoint() or { id = first_queue_id(), offset = 0 }
S.cp = { id = start_cp.id, offset = start_cp.offset }
S.cur = { id = start_cp.id, offset = start_cp.offset }
local queue = Queue.new(start_cp.id, start_cp.offset)

load_plugin()
if not S.load_failed then
  local now = os.time()
  local ticker_expires = 0
  if cfg.ticker_interval > 0 then
    if opts.stagger then
      local stagger = cfg.ticker_interval > 60 and 60 or cfg.ticker_interval
      ticker_expires = now + math.random(0, stagger - 1)
    else
      ticker_expires = now + cfg.ticker_interval
    end
  end
  S.loop.ticker_expires = ticker_expires
  log(6, "starting")
  util.event({ event = "ready", plugin = NAME, checkpoint = string.format("%d:%d", S.cp.id, S.cp.offset) })
end
write_checkpoint()

local pending = nil -- a message being retried (-3)
local last_cp_write = util.now()
local last_control = 0

local function fatal()
  detach(S.error)
end

while not S.stop do
  local wait = opts.poll_interval
  if not S.detached then
    if pending then
      local t = util.now()
      if t >= pending.at then
        local ret = output_message(pending.m, pending.current_t)
        if ret == -3 then
          stats.retries = stats.retries + 1
          pending.at = util.now() + opts.retry_delay
          log(7, "retry message %d err: %s", S.loop.sequence_id, S.error)
        else
          pending = nil
          if ret > 0 then fatal() end
        end
      end
      wait = pending and math.max(0, pending.at - util.now()) or 0
    else
      local m, pos = queue:next()
      if m then
        stats.read = stats.read + 1
        S.cur = pos
        local current_t = os.time()
        local ret = output_message(m, current_t)
        if ret == -3 then
          stats.retries = stats.retries + 1
          pending = { m = m, current_t = current_t, at = util.now() + opts.retry_delay }
          log(7, "retry message %d err: %s", S.loop.sequence_id, S.error)
        elseif ret > 0 then
          fatal()
        end
        wait = 0
      else
        -- idle: let pending timer events fire (the result is ignored, as in Hindsight: a
        -- failed timer_event terminates the sandbox, the next message detaches the plugin)
        output_message(nil, os.time())
      end
    end
  end
  if util.now() - last_cp_write >= opts.checkpoint_interval then
    write_checkpoint()
    last_cp_write = util.now()
  end
  if S.stop then break end
  -- while messages flow, look at the control channel every 20 ms rather than per message
  local now = util.now()
  if wait > 0 or now - last_control >= 0.02 then
    S.stop = util.control_wait(wait)
    last_control = now
  end
end

-- shutdown_timer_event, then keep the checkpoint
if not S.detached and not S.lsb_terminated then
  if timer_event(os.time(), true) > 0 then log(3, "terminated: %s", S.error) end
end
write_checkpoint()
log(6, "shutting down")
util.event({ event = "stopped", plugin = NAME, checkpoint = stats.checkpoint })
os.exit(0)
