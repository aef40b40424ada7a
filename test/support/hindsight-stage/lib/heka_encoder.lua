-- Heka messages encoded (test infrastructure, not deployed): the one encoder of the Lua tests.
-- The plugins never encode (they write line protocol), so this lives with the test stage: the
-- stage frames what its input queues and what read_message("framed") returns with it, and the
-- busted specs and benchmarks build their messages with it (through test/lua/fake_hindsight.lua).
-- Decoding is the product's (lua/modules/stacklight/protobuf_wire.lua and heka_protobuf.lua) and,
-- for what lua_sandbox hands a plugin, lib/heka.lua's.
--
--   local enc = require "heka_encoder"
--   enc.varint(v)               -- v: an integer number or a decimal string (any int64, exact)
--   enc.double_bytes(x)         -- 8 bytes, little-endian IEEE 754
--   enc.encode_message(msg)     -- msg: Uuid (16 bytes, default "\7" x 16), Timestamp (number or
--                               -- decimal string, ns), Type, Logger, Severity, Payload,
--                               -- EnvVersion, Pid, Hostname, Fields = array of {name=, value=
--                               -- (scalar or array), value_type=, representation=, unpacked=}
--   enc.frame(raw)              -- the framed record (0x1E, header length, header, 0x1F, raw)

local M = {}

local byte, char, format = string.byte, string.char, string.format
local floor, concat = math.floor, table.concat

local TWO53 = 9007199254740992

-- A 64-bit two's complement value as four base-2^16 digits (d[1] least significant).
local function digits_of(v)
  local d = { 0, 0, 0, 0 }
  local neg = false
  if type(v) == "number" then
    assert(v == floor(v), "integer expected")
    v = format("%.0f", v)
  end
  assert(type(v) == "string" and v:match("^%-?%d+$"), "integer expected: " .. tostring(v))
  if v:sub(1, 1) == "-" then neg, v = true, v:sub(2) end
  for k = 1, #v do
    local carry = byte(v, k) - 48
    for i = 1, 4 do
      local x = d[i] * 10 + carry
      d[i] = x % 65536
      carry = floor(x / 65536)
    end
  end
  if neg then
    local carry = 1
    for i = 1, 4 do
      local x = (65535 - d[i]) + carry
      d[i] = x % 65536
      carry = floor(x / 65536)
    end
  end
  return d
end

local function varint_digits(d)
  local out = {}
  while true do
    local low7 = d[1] % 128
    local rem = 0 -- shift right by 7
    for i = 4, 1, -1 do
      local x = rem * 65536 + d[i]
      d[i] = floor(x / 128)
      rem = x % 128
    end
    if d[1] == 0 and d[2] == 0 and d[3] == 0 and d[4] == 0 then
      out[#out + 1] = char(low7)
      break
    end
    out[#out + 1] = char(low7 + 128)
  end
  return concat(out)
end

--- The varint of an integer: a number (exact below 2^53) or a decimal string (any int64).
local function varint(v)
  if type(v) == "number" and v >= 0 and v < TWO53 and v == floor(v) then
    local out, n = {}, 0
    repeat
      local b = v % 128
      v = (v - b) / 128
      n = n + 1
      out[n] = char(v > 0 and b + 128 or b)
    until v == 0
    return concat(out)
  end
  return varint_digits(digits_of(v))
end
M.varint = varint

-- The unsigned 32-bit halves lo, hi of a 64-bit two's complement integer (a number or a
-- decimal string): the reference the specs hold stacklight.int64 to.
function M.halves(v)
  local d = digits_of(v)
  return d[2] * 65536 + d[1], d[4] * 65536 + d[3]
end

local function key(field, wt) return varint(field * 8 + wt) end
local function len_delim(field, s) return key(field, 2) .. varint(#s) .. s end

function M.double_bytes(x)
  if x ~= x then return "\0\0\0\0\0\0\248\127" end
  local sign = 0
  if x < 0 or (x == 0 and 1 / x < 0) then sign, x = 128, -x end
  local mant, exp
  if x == math.huge then
    mant, exp = 0, 2047
  elseif x == 0 then
    mant, exp = 0, 0
  else
    local m, e = math.frexp(x)
    exp = e + 1022
    if exp <= 0 then
      mant, exp = math.ldexp(m, e + 1074), 0
    else
      mant = (m * 2 - 1) * 2 ^ 52
    end
  end
  local out = {}
  for _ = 1, 6 do
    out[#out + 1] = char(mant % 256)
    mant = floor(mant / 256)
  end
  out[#out + 1] = char((exp % 16) * 16 + mant)
  out[#out + 1] = char(sign + floor(exp / 16))
  return concat(out)
end

-- The numeric value types: their Field field number, unpacked wire type and value bytes.
local NUMERIC = {
  [2] = { 6, 0, varint },
  [3] = { 7, 1, M.double_bytes },
  [4] = { 8, 0, function(v) return v and "\1" or "\0" end },
}

-- One Field submessage: {name=, value= (scalar or array), value_type=, representation=, unpacked=}
local function encode_field(f)
  local vt = f.value_type
  local values = type(f.value) == "table" and f.value or { f.value }
  if vt == nil then
    local t = type(values[1])
    vt = (t == "number" and 3) or (t == "boolean" and 4) or 0
  end
  local parts = { len_delim(1, f.name), key(2, 0), varint(vt) }
  if f.representation then parts[#parts + 1] = len_delim(3, f.representation) end
  if vt == 0 or vt == 1 then
    for _, s in ipairs(values) do parts[#parts + 1] = len_delim(vt == 0 and 4 or 5, s) end
  elseif NUMERIC[vt] then
    local number, wiretype, bytes = unpack(NUMERIC[vt])
    if f.unpacked then
      for _, v in ipairs(values) do parts[#parts + 1] = key(number, wiretype) .. bytes(v) end
    else
      local b = {}
      for _, v in ipairs(values) do b[#b + 1] = bytes(v) end
      parts[#parts + 1] = len_delim(number, concat(b))
    end
  end
  return concat(parts)
end

--- Encodes a Heka message table (array-based Fields) to its protobuf string.
function M.encode_message(msg)
  local parts = {}
  parts[#parts + 1] = len_delim(1, msg.Uuid or string.rep("\7", 16))
  parts[#parts + 1] = key(2, 0) .. varint(msg.Timestamp or 0)
  if msg.Type then parts[#parts + 1] = len_delim(3, msg.Type) end
  if msg.Logger then parts[#parts + 1] = len_delim(4, msg.Logger) end
  if msg.Severity then parts[#parts + 1] = key(5, 0) .. varint(msg.Severity) end
  if msg.Payload then parts[#parts + 1] = len_delim(6, msg.Payload) end
  if msg.EnvVersion then parts[#parts + 1] = len_delim(7, msg.EnvVersion) end
  if msg.Pid then parts[#parts + 1] = key(8, 0) .. varint(msg.Pid) end
  if msg.Hostname then parts[#parts + 1] = len_delim(9, msg.Hostname) end
  for _, f in ipairs(msg.Fields or {}) do parts[#parts + 1] = len_delim(10, encode_field(f)) end
  return concat(parts)
end

--- The framed record of a raw message, as read_message("framed") and Hindsight's queues write it.
function M.frame(raw)
  local header = "\8" .. varint(#raw)
  return "\30" .. char(#header) .. header .. "\31" .. raw
end

return M
