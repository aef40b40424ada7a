-- Hindsight test stage: command-line access to the stage's Heka decoder and matcher, for tests
-- that cross-check them against independent implementations.
--
--   lua5.1 tool.lua decode [MAX_MESSAGE_SIZE]   framed stream on stdin -> one JSON line per
--                                                message found, then {"summary": ...}
--   lua5.1 tool.lua match EXPR...               framed stream on stdin -> per message, the
--                                                result of each message_matcher expression
--
-- A message line holds what a plugin can read: the headers via read_message (uuid as hex,
-- timestamp also as an exact decimal string), every field's values via read_message
-- ("Fields[name]", fi, ai) for all array indices, and decode_message(raw) (or its error).

local here = arg[0]:match("^(.*)/[^/]*$") or "."
-- the stage's lib/, and lua/modules for the product's protobuf primitives (lib/heka.lua)
package.path = here .. "/lib/?.lua;" .. here .. "/../../../lua/modules/?.lua;" .. package.path

local util = require "util"
local heka = require "heka"
local matcher = require "matcher"
local int64 = require "stacklight.int64"

-- the exact decimal of the Timestamp, from the halves the decoders keep (bits 0..27, 28..63)
local function timestamp_exact(m)
  local lo28, hi36 = m.timestamp_lo, m.timestamp_hi
  return int64.string(lo28 + (hi36 % 16) * 268435456, math.floor(hi36 / 16))
end

local command = arg[1]
local input = io.stdin:read("*a")

-- feeds the input in chunks, as a connection would, calling fn for each message found
local function each_message(reader, fn)
  local pos = 1
  while true do
    local m = reader:find(true)
    if m then
      fn(m)
    else
      if pos > #input then break end
      -- read what the reader asks for, as heka_tcp.lua's receive(need) does
      local need = reader:need()
      if need < 1 then need = 1 end
      if need > 8192 then need = 8192 end
      assert(reader:append(input:sub(pos, pos + need - 1)), "buffer reallocation failed")
      pos = pos + need
    end
  end
end

local function values_of(m, name, fi)
  local out = setmetatable({}, util.ARRAY)
  for ai = 0, 10000 do
    local v = heka.read_message(m, "Fields[" .. name .. "]", fi, ai)
    if v == nil then break end
    out[#out + 1] = v
  end
  return out
end

local function describe(m)
  local fields = setmetatable({}, util.ARRAY)
  local seen = {}
  for _, f in ipairs(m.fields) do
    local fi = seen[f.name] or 0
    seen[f.name] = fi + 1
    fields[#fields + 1] = {
      name = f.name, value_type = f.value_type, representation = f.representation,
      values = values_of(m, f.name, fi),
    }
  end
  local ok, decoded = pcall(heka.decode_message, m.raw)
  if ok then
    decoded.Uuid = util.hex(decoded.Uuid)
    for _, f in ipairs(decoded.Fields or {}) do setmetatable(f.value, util.ARRAY) end
  end
  return {
    uuid = util.hex(heka.read_message(m, "Uuid")),
    timestamp = heka.read_message(m, "Timestamp"),
    timestamp_exact = timestamp_exact(m),
    type = heka.read_message(m, "Type"),
    logger = heka.read_message(m, "Logger"),
    severity = heka.read_message(m, "Severity"),
    payload = heka.read_message(m, "Payload"),
    env_version = heka.read_message(m, "EnvVersion"),
    pid = heka.read_message(m, "Pid"),
    hostname = heka.read_message(m, "Hostname"),
    raw_hex = util.hex(m.raw),
    framed_hex = util.hex(heka.read_message(m, "framed")),
    fields = fields,
    decoded = ok and decoded or nil,
    decode_error = not ok and tostring(decoded) or nil,
  }
end

if command == "decode" then
  local reader = heka.stream_reader(tonumber(arg[2]))
  local found = 0
  each_message(reader, function(m)
    found = found + 1
    io.stdout:write(util.json(describe(m)), "\n")
  end)
  io.stdout:write(util.json({ summary = { found = found, discarded = reader.discarded,
    unconsumed = reader:buffered() } }), "\n")
elseif command == "match" then
  local compiled = {}
  for i = 2, #arg do
    local mm, err = matcher.compile(arg[i])
    compiled[#compiled + 1] = mm or { error = err }
  end
  each_message(heka.stream_reader(), function(m)
    local results = setmetatable({}, util.ARRAY)
    for i, mm in ipairs(compiled) do
      if mm.error then results[i] = { error = mm.error } else results[i] = mm:eval(m) end
    end
    io.stdout:write(util.json({ matches = results }), "\n")
  end)
else
  io.stderr:write("usage: lua5.1 tool.lua decode [MAX_MESSAGE_SIZE] | match EXPR...\n")
  os.exit(2)
end
