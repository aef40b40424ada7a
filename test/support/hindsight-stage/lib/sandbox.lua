-- An output-plugin sandbox in plain Lua 5.1 (test infrastructure), shaped like lua_sandbox 1.x
-- for Hindsight's input/output plugins (src/luasandbox.c, src/heka/sandbox.c set_restrictions):
--
-- * globals at start: the base library without dofile, load, loadfile, loadstring, newproxy;
--   plus read_config and what the caller adds (read_message, update_checkpoint, ...);
-- * string, table, math, os, io, coroutine exist only after `require` (lua_sandbox preloads
--   them; it does not open them), and then as copies without os.exit, os.setlocale and
--   string.dump;
-- * require also finds the Lua modules on the configured path (io_lua_path) and the host's
--   socket, socket.*, ltn12, mime, cjson, cjson.safe, lpeg and lfs (lua_sandbox_extensions);
-- * instruction_limit: a count hook raising "instruction_limit exceeded" (per call, 0 = none);
-- * memory_limit: approximated, see Sandbox:check_memory.
-- Known gap: the string metatable (("x"):upper()) works before require "string" here.

local util = require "util"

local M = {}

local BASE = {
  "assert", "collectgarbage", "error", "gcinfo", "getmetatable", "ipairs", "next", "pairs",
  "pcall", "rawequal", "rawget", "rawset", "select", "setmetatable", "tonumber", "tostring",
  "type", "unpack", "xpcall", "_VERSION",
}

local REMOVED = { os = { exit = true, setlocale = true }, string = { dump = true } }

local STD_MODULES = { string = true, table = true, math = true, os = true, io = true, coroutine = true }

local HOST_MODULES = {
  socket = true, ["socket.core"] = true, ["socket.http"] = true, ["socket.url"] = true,
  ["socket.headers"] = true, ["socket.tp"] = true, ["socket.ftp"] = true, ["socket.smtp"] = true,
  ltn12 = true, mime = true, ["mime.core"] = true, cjson = true, ["cjson.safe"] = true,
  lpeg = true, lfs = true,
}
-- read by `npm run doctor` (test/support/doctor.ts), which checks each one loads on this machine
M.HOST_MODULES = HOST_MODULES

local Sandbox = {}
Sandbox.__index = Sandbox

local function copy_module(name)
  local src = _G[name]
  local dst = {}
  for k, v in pairs(src) do
    if not (REMOVED[name] and REMOVED[name][k]) then dst[k] = v end
  end
  return dst
end

-- opts: name (Logger), config (the runtime cfg table), path (";"-separated "?" templates),
-- instruction_limit, memory_limit
function M.new(opts)
  local self = setmetatable({
    name = opts.name,
    config = opts.config,
    path = opts.path or "",
    instruction_limit = opts.instruction_limit or 0,
    memory_limit = opts.memory_limit or 0,
    loaded = {},
    used = 0,
    max_memory = 0,
    baseline = 0,
  }, Sandbox)
  local env = {}
  self.env = env
  for _, k in ipairs(BASE) do env[k] = _G[k] end
  env._G = env

  env.getfenv = function(f)
    if f == nil then f = 1 end
    if type(f) == "number" then
      if f == 0 then return env end
      f = f + 1
    end
    local r = getfenv(f)
    if r == _G then return env end
    return r
  end
  env.setfenv = function(f, t)
    if type(f) == "number" then
      if f == 0 then error("setfenv(0) is not supported by the test stage", 2) end
      f = f + 1
    end
    return setfenv(f, t)
  end
  env.print = function(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
    util.log(7, self.name, "%s", table.concat(parts, "\t"))
  end
  env.read_config = function(key)
    if type(key) ~= "string" and type(key) ~= "number" then
      error("bad argument #1 to 'read_config' (string expected, got " .. type(key) .. ")", 2)
    end
    return self.config[tostring(key)]
  end
  env.package = {
    loaded = self.loaded, path = self.path, cpath = "",
    seeall = function(m) setmetatable(m, { __index = env }) end,
  }
  -- no tail calls: the error levels and setfenv(3) below count these frames
  env.require = function(name)
    local mod = self:require(name)
    return mod
  end
  env.module = function(name, ...)
    self:module(name, ...)
  end
  return self
end

function Sandbox:require(name)
  if type(name) ~= "string" then
    error("bad argument #1 to 'require' (string expected, got " .. type(name) .. ")", 3)
  end
  local loaded = self.loaded[name]
  if loaded ~= nil then return loaded end
  if name == "_G" or name == "base" then
    self.loaded[name] = self.env
    return self.env
  end
  if STD_MODULES[name] then
    local mod = copy_module(name)
    rawset(self.env, name, mod) -- (raw: test/lua/fake_hindsight.lua watches the plugin's own globals)
    self.loaded[name] = mod
    return mod
  end
  if HOST_MODULES[name] then
    local mod = require(name)
    self.loaded[name] = mod
    return mod
  end
  local tried = {}
  local fname = name:gsub("%.", "/")
  for template in self.path:gmatch("[^;]+") do
    local file = template:gsub("%?", fname)
    if util.file_exists(file) then
      local chunk, err = loadfile(file)
      if not chunk then error("error loading module '" .. name .. "' from file '" .. file .. "':\n\t" .. err, 3) end
      setfenv(chunk, self.env)
      self.loaded[name] = true -- as Lua 5.1 does while the module loads
      local result = chunk(name)
      if result ~= nil then self.loaded[name] = result end
      return self.loaded[name]
    end
    tried[#tried + 1] = "\n\tno file '" .. file .. "'"
  end
  error("module '" .. name .. "' not found:" .. table.concat(tried), 3)
end

-- Lua 5.1's module(), against the sandbox's globals
function Sandbox:module(name, ...)
  local env = self.env
  local mod = self.loaded[name]
  if type(mod) ~= "table" then
    mod = env
    for part in name:gmatch("[^%.]+") do
      local next_mod = mod[part]
      if next_mod == nil then
        next_mod = {}
        mod[part] = next_mod
      elseif type(next_mod) ~= "table" then
        error("name conflict for module '" .. name .. "'", 3)
      end
      mod = next_mod
    end
    self.loaded[name] = mod
  end
  if mod._NAME == nil then
    mod._M = mod
    mod._NAME = name
    mod._PACKAGE = name:match("^(.*%.)") or ""
  end
  setfenv(3, mod)
  for i = 1, select("#", ...) do
    local option = select(i, ...)
    option(mod)
  end
end

-- The memory the sandbox uses: the whole Lua state minus what the runtime held before the plugin
-- was loaded. Garbage counts until collected (as in lua_sandbox, whose allocator sees it), but a
-- limit is only declared exceeded after a full collection confirms it: more lenient than
-- lua_sandbox, which fails the allocation at once.
function Sandbox:memory()
  local used = collectgarbage("count") * 1024 - self.baseline
  if used > self.max_memory then self.max_memory = used end
  return used
end

function Sandbox:check_memory()
  if self.memory_limit <= 0 then return true end
  if self:memory() <= self.memory_limit then return true end
  collectgarbage("collect")
  return self:memory() <= self.memory_limit
end

function Sandbox:hook_function()
  if self.hook then return self.hook end
  local limit = self.instruction_limit
  local step = (limit > 0 and limit < 10000) and limit or 10000
  self.step = step
  self.hook = function()
    self.used = self.used + step
    if limit > 0 and self.used >= limit then error("instruction_limit exceeded", 2) end
    if not self:check_memory() then error("not enough memory", 0) end
  end
  return self.hook
end

-- Calls fn(...) under the limits: returns pcall's results.
function Sandbox:call(fn, ...)
  self.used = 0
  if self.instruction_limit > 0 or self.memory_limit > 0 then
    debug.sethook(self:hook_function(), "", self.step)
  end
  local results = { pcall(fn, ...) }
  debug.sethook()
  if results[1] and not self:check_memory() then
    return false, "not enough memory"
  end
  return unpack(results, 1, table.maxn(results))
end

-- Loads the plugin file into the sandbox (lsb_init). Returns true, or false and the error.
function Sandbox:load(file)
  collectgarbage("collect")
  self.baseline = collectgarbage("count") * 1024
  local chunk, err = loadfile(file)
  if not chunk then return false, err end
  setfenv(chunk, self.env)
  local ok, lerr = self:call(chunk)
  if not ok then return false, tostring(lerr) end
  collectgarbage("collect")
  return true
end

-- the global `name` of the sandbox, if it is a function
function Sandbox:fn(name)
  local f = rawget(self.env, name)
  if type(f) == "function" then return f end
  return nil
end

return M
