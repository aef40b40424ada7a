-- Hindsight test stage: the heka_tcp input (lua_sandbox_extensions socket/sandboxes/heka/input/
-- heka_tcp.lua) writing Hindsight's input queue.
--
--   lua5.1 input.lua --config-dir DIR --output-dir DIR [--plugin NAME]
--
-- Reads run/input/NAME.cfg (filename must be heka_tcp.lua; address, default "127.0.0.1", "*" for
-- all; port, default 5565, 0 for any free port). Each connection gets its own stream reader,
-- exactly as heka_tcp.lua does with create_stream_reader()/find_message(): a framed record is
-- accepted only if its header and message decode the way lua_sandbox decodes them (see
-- lib/heka.lua); garbage is skipped up to the next 0x1E; a connection that closes mid-record
-- loses that record. Each accepted message is appended, re-framed, to
-- <output-dir>/input/<id>.log (rolled at output_size, from hindsight.cfg, 64 MiB by default).
-- A clean stop is asked by closing stdin (or writing "stop"). Events on stdout, logs on stderr.

local here = arg[0]:match("^(.*)/[^/]*$") or "."
-- the stage's lib/, and lua/modules for the product's protobuf primitives (lib/heka.lua)
package.path = here .. "/lib/?.lua;" .. here .. "/../../../lua/modules/?.lua;" .. package.path

local socket = require "socket"
local util = require "util"
local hs_config = require "hs_config"
local heka = require "heka"

local ok_args, opts = pcall(util.parse_args, arg, {
  config_dir = "", output_dir = "", plugin = "", log_level = 7, flush_interval = 1,
})
if not ok_args then
  io.stderr:write(tostring(opts), "\n")
  os.exit(2)
end
if opts.config_dir == "" or opts.output_dir == "" then
  io.stderr:write("usage: lua5.1 input.lua --config-dir DIR --output-dir DIR [--plugin NAME] [--flush-interval S]\n")
  os.exit(2)
end
util.set_log_level(opts.log_level)

local RUN_DIR = opts.config_dir .. "/run"
local QUEUE_DIR = opts.output_dir .. "/input"

local hs = hs_config.load_dir(opts.config_dir)
local max_message_size = hs.max_message_size
local output_size = hs.output_size

-- find the heka_tcp cfg
local plugin = opts.plugin
if plugin == "" then
  for _, name in ipairs(util.list_dir(RUN_DIR .. "/input")) do
    local cfg_name = name:match("^(.+)%.cfg$")
    if cfg_name then
      local values = util.load_cfg(RUN_DIR .. "/input/" .. name)
      if values and values.filename == "heka_tcp.lua" then plugin = cfg_name break end
    end
  end
end
local NAME = "input." .. plugin
local ERR_FILE = RUN_DIR .. "/input/" .. plugin .. ".err"
local STATS_FILE = opts.output_dir .. "/" .. NAME .. ".stats.json"
local function log(level, fmt, ...) util.log(level, NAME, fmt, ...) end

local stats = {
  plugin = NAME, connections = 0, open_connections = 0, messages = 0, bytes_received = 0,
  discarded_bytes = 0, unconsumed_bytes = 0, dropped_connections = 0, queue_id = 0,
  queue_offset = 0, decoder = heka.native and "c" or "lua",
}
local stats_dirty, last_stats = true, 0
local function write_stats(force)
  if not stats_dirty and not force then return end
  if not force and util.now() - last_stats < 0.1 then return end
  util.write_file(STATS_FILE, util.json(stats) .. "\n")
  stats_dirty, last_stats = false, util.now()
end

local function terminate(err)
  log(3, "terminated: %s", err)
  -- written whole (tmp + rename) so a reader never sees it half-written
  pcall(util.write_file, ERR_FILE, os.date("!%Y-%m-%dT%H:%M:%S") .. "\t" .. err .. "\n")
  util.event({ event = "terminated", plugin = NAME, error = err })
end

---------------------------------------------------------------------------------------------
-- the queue writer

util.mkdir_p(QUEUE_DIR)
local queue_id = 0
for _, name in ipairs(util.list_dir(QUEUE_DIR)) do
  local id = tonumber(name:match("^(%d+)%.log$"))
  if id and id > queue_id then queue_id = id end
end
local queue_fh, queue_size

-- The queue is written as Hindsight writes it (hs_input_plugins.c, hs_output.c): through a stdio
-- stream with the C library's full buffering, which reaches the file whenever the 4 KiB buffer
-- fills (often in the middle of a record), and flushed whole once a second by the checkpoint
-- writer (hs_checkpoint_writer.c) and when the file is closed. The output reads only what reached
-- the file; a kill -9 loses the rest and leaves a torn record, as in Hindsight.
local QUEUE_BUFFER = 4096
local FLUSH_INTERVAL = opts.flush_interval -- Hindsight: 1 s
local next_flush = util.now() + FLUSH_INTERVAL

local function open_queue()
  local path = string.format("%s/%d.log", QUEUE_DIR, queue_id)
  queue_fh = assert(io.open(path, "ab"))
  queue_fh:setvbuf("full", QUEUE_BUFFER)
  queue_size = queue_fh:seek("end")
  stats.queue_id, stats.queue_offset = queue_id, queue_size
end

local function flush_on_schedule()
  local now = util.now()
  if now < next_flush then return next_flush - now end
  queue_fh:flush()
  next_flush = now + FLUSH_INTERVAL
  return FLUSH_INTERVAL
end

local function write_message(raw)
  local record = heka.frame(raw)
  queue_fh:write(record)
  queue_size = queue_size + #record
  stats.messages = stats.messages + 1
  stats.queue_offset = queue_size
  stats_dirty = true
  if queue_size >= output_size then
    queue_fh:close()
    queue_id = queue_id + 1
    open_queue()
  end
end

open_queue()

---------------------------------------------------------------------------------------------
-- the listener

local values, cfg_err = nil, "no heka_tcp.lua input configured in " .. RUN_DIR .. "/input"
if plugin ~= "" then values, cfg_err = util.load_cfg(RUN_DIR .. "/input/" .. plugin .. ".cfg") end
os.remove(ERR_FILE)
local server
if values then
  local address = values.address or "127.0.0.1"
  local port = values.port or 5565
  local bind_err
  server, bind_err = socket.bind(address, port)
  if not server then
    terminate(string.format("process_message() heka_tcp.lua: %s", tostring(bind_err)))
  else
    server:settimeout(0)
    local bound_address, bound_port = server:getsockname()
    log(6, "listening on %s:%s", tostring(bound_address), tostring(bound_port))
    util.event({ event = "ready", plugin = NAME, address = bound_address, port = tonumber(bound_port) })
  end
else
  log(3, "loading failed: %s", tostring(cfg_err))
  util.event({ event = "load_failed", plugin = NAME, error = tostring(cfg_err) })
end

local clients = {} -- socket -> { reader, need, peer }

local function close_client(s, why)
  local c = clients[s]
  if c then
    stats.discarded_bytes = stats.discarded_bytes + c.reader.discarded
    -- an incomplete record when the connection ended: lost, as in heka_tcp.lua
    stats.unconsumed_bytes = stats.unconsumed_bytes + c.reader:buffered()
    stats.open_connections = stats.open_connections - 1
    stats_dirty = true
    log(7, "connection %s closed: %s (%d bytes discarded)", c.peer, why, c.reader.discarded)
  end
  clients[s] = nil
  s:close()
end

local function handle_client(s)
  local c = clients[s]
  local buf, err, partial = s:receive(c.need)
  local data = buf or partial
  if data and #data > 0 then
    stats.bytes_received = stats.bytes_received + #data
    stats_dirty = true
    if not c.reader:append(data) then
      -- hsr:find_message raises "buffer reallocation failed"; heka_tcp.lua drops the connection
      stats.dropped_connections = stats.dropped_connections + 1
      return close_client(s, "buffer reallocation failed")
    end
  end
  while true do
    local m = c.reader:find(true)
    if not m then break end
    write_message(m.raw)
  end
  local need = c.reader:need()
  c.need = need > 0 and need or 1
  if err == "closed" then close_client(s, "closed") end
end

local stop = false
while not stop do
  local watch = {}
  if server then watch[1] = server end
  for s in pairs(clients) do watch[#watch + 1] = s end
  local ready
  -- wake up soon when stats are waiting to be written (they are throttled to one write per 0.1 s)
  local until_flush = flush_on_schedule()
  stop, ready = util.control_wait(math.min(stats_dirty and 0.1 or 1, until_flush), watch)
  for _, s in ipairs(ready) do
    if s == server then
      local client = server:accept()
      if client then
        client:settimeout(0)
        local caddr, cport = client:getpeername()
        clients[client] = {
          reader = heka.stream_reader(max_message_size), need = 8192 * 4,
          peer = string.format("%s:%s", tostring(caddr or "unknown"), tostring(cport or 0)),
        }
        stats.connections = stats.connections + 1
        stats.open_connections = stats.open_connections + 1
        stats_dirty = true
      end
    elseif clients[s] then
      handle_client(s)
    end
  end
  write_stats(false)
end

for s in pairs(clients) do close_client(s, "shutting down") end
if server then server:close() end
queue_fh:close()
write_stats(true)
log(6, "shutting down")
util.event({ event = "stopped", plugin = NAME })
os.exit(0)
