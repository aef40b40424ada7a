-- Helpers shared by the stage's processes (test infrastructure, plain Lua 5.1 + LuaSocket).

local socket = require "socket"

local M = {}

local format, concat, byte = string.format, table.concat, string.byte

---------------------------------------------------------------------------------------------
-- command line: --key value and --flag

function M.parse_args(argv, spec)
  local opts = {}
  for k, v in pairs(spec) do
    if type(v) ~= "boolean" or v == true then opts[k] = v end
  end
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local key = a:match("^%-%-([%w%-]+)$")
    if not key then error("unexpected argument: " .. a, 0) end
    key = key:gsub("%-", "_")
    if spec[key] == nil then error("unknown option: " .. a, 0) end
    if type(spec[key]) == "boolean" then
      opts[key] = true
      i = i + 1
    else
      local v = argv[i + 1]
      if v == nil then error("missing value for " .. a, 0) end
      if type(spec[key]) == "number" then
        v = tonumber(v)
        if not v then error("not a number: " .. a .. " " .. argv[i + 1], 0) end
      end
      opts[key] = v
      i = i + 2
    end
  end
  return opts
end

---------------------------------------------------------------------------------------------
-- time, logging and events

function M.now() return socket.gettime() end

local log_level = 7

function M.set_log_level(level) log_level = level end

-- Hindsight's log line: "<ns> [<level>] <module> <message>", on stderr
function M.log(level, module, fmt, ...)
  if level > log_level then return end
  local msg = select("#", ...) > 0 and format(fmt, ...) or fmt
  io.stderr:write(format("%.0f [%d] %s %s\n", M.now() * 1e9, level, module, msg))
  io.stderr:flush()
end

-- machine-readable lines for the TypeScript wrapper, on stdout
function M.event(tbl)
  io.stdout:write("@@stage ", M.json(tbl), "\n")
  io.stdout:flush()
end

---------------------------------------------------------------------------------------------
-- JSON (numbers with 17 significant digits; non-finite numbers as strings)

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
  ["\r"] = "\\r", ["\t"] = "\\t" }

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or format("\\u%04x", byte(c))
  end) .. '"'
end

M.ARRAY = { __jsontype = "array" }

local function encode(v, out)
  local t = type(v)
  if t == "nil" then
    out[#out + 1] = "null"
  elseif t == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif t == "number" then
    if v ~= v then out[#out + 1] = '"NaN"'
    elseif v == math.huge then out[#out + 1] = '"Infinity"'
    elseif v == -math.huge then out[#out + 1] = '"-Infinity"'
    elseif v == math.floor(v) and math.abs(v) < 2 ^ 53 then out[#out + 1] = format("%.0f", v)
    else out[#out + 1] = format("%.17g", v) end
  elseif t == "string" then
    out[#out + 1] = json_string(v)
  elseif t == "table" then
    local n = #v
    local is_array = true
    if getmetatable(v) ~= M.ARRAY then
      -- an array when exactly the keys 1..n are present
      local count = 0
      for _ in pairs(v) do count = count + 1 end
      is_array = n > 0 and count == n
    end
    if is_array then
      out[#out + 1] = "["
      for i = 1, n do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = json_string(k)
        out[#out + 1] = ":"
        local val = v[k]
        if val == nil then val = v[tonumber(k)] end
        encode(val, out)
      end
      out[#out + 1] = "}"
    end
  else
    out[#out + 1] = json_string(tostring(v))
  end
end

function M.json(v)
  local out = {}
  encode(v, out)
  return concat(out)
end

function M.hex(s)
  return (s:gsub(".", function(c) return format("%02x", byte(c)) end))
end

---------------------------------------------------------------------------------------------
-- Lua serialisation (for .rtc files and checkpoints)

local function lua_value(v)
  local t = type(v)
  if t == "string" then return format("%q", v) end
  if t == "number" then
    if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return format("%.0f", v) end
    return format("%.17g", v)
  end
  if t == "boolean" then return tostring(v) end
  if t == "table" then
    local parts = {}
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do
      local key = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or "[" .. lua_value(k) .. "]"
      parts[#parts + 1] = key .. " = " .. lua_value(v[k])
    end
    return "{" .. concat(parts, ", ") .. "}"
  end
  return "nil"
end
M.lua_value = lua_value

---------------------------------------------------------------------------------------------
-- files

function M.read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("*a")
  f:close()
  return s
end

-- write a file atomically (tmp + rename)
function M.write_file(path, content)
  local tmp = path .. ".tmp"
  local f = assert(io.open(tmp, "wb"))
  f:write(content)
  f:close()
  assert(os.rename(tmp, path))
end

function M.file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

function M.file_size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local size = f:seek("end")
  f:close()
  return size
end

function M.mkdir_p(path)
  -- only used for the stage's own directories; lfs is part of the Debian lua packages here
  local ok, lfs = pcall(require, "lfs")
  if ok then
    local cur = ""
    for part in path:gmatch("[^/]+") do
      cur = cur .. "/" .. part
      if not lfs.attributes(cur) then
        local made, err = lfs.mkdir(cur)
        -- another stage process may have created it meanwhile
        if not made and not lfs.attributes(cur) then error(err) end
      end
    end
    return
  end
  assert(os.execute("mkdir -p '" .. path:gsub("'", "'\\''") .. "'") == 0, "mkdir failed")
end

function M.list_dir(path)
  local lfs = require "lfs"
  local names = {}
  if not lfs.attributes(path) then return names end
  for name in lfs.dir(path) do
    if name ~= "." and name ~= ".." then names[#names + 1] = name end
  end
  table.sort(names)
  return names
end

function M.pid()
  local stat = M.read_file("/proc/self/stat")
  return stat and tonumber(stat:match("^(%d+)")) or 0
end

function M.hostname()
  local h = M.read_file("/proc/sys/kernel/hostname")
  return h and h:gsub("%s+$", "") or "localhost"
end

-- Evaluates a cfg file (a Lua chunk of global assignments) and returns its globals.
function M.load_cfg(path)
  local text, err = M.read_file(path)
  if not text then return nil, err end
  local chunk, perr = loadstring(text, "=" .. path)
  if not chunk then return nil, perr end
  local values = {}
  values._G = values -- cfg and checkpoint files may assign through _G["key"]
  setfenv(chunk, values)
  local ok, rerr = pcall(chunk)
  values._G = nil
  if not ok then return nil, rerr end
  return values
end

---------------------------------------------------------------------------------------------
-- control: the parent asks for a clean stop by closing our stdin (or writing "stop")

local stdin = { getfd = function() return 0 end, dirty = function() return false end }

-- Waits up to `timeout` seconds for the control channel; returns true when a stop was asked.
function M.control_wait(timeout, extra)
  local list = { stdin }
  if extra then for _, s in ipairs(extra) do list[#list + 1] = s end end
  local ready = socket.select(list, nil, timeout)
  local stop = false
  local others = {}
  for _, s in ipairs(ready or {}) do
    if s == stdin then
      local line = io.stdin:read("*l")
      if line == nil or line == "stop" then stop = true end
    else
      others[#others + 1] = s
    end
  end
  return stop, others
end

return M
