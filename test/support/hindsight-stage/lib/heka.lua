-- Heka messages as lua_sandbox 1.x handles them, in plain Lua 5.1 (test infrastructure).
--
-- Every function here transcribes the C code it names, quirks included, because the plugins
-- tested on this stage must behave the same in a real Hindsight:
--   lsb_pb_read_key / lsb_pb_read_varint        (src/util/protobuf.c)
--   lsb_decode_heka_message, lsb_find_heka_message, lsb_read_heka_field
--                                               (src/util/heka_message.c)
--   heka_decode_message, heka_read_message      (src/heka/message.c)
--   hsr_find_message                            (src/heka/stream_reader.c)
--   lsb_init_input_buffer / lsb_expand_input_buffer (src/util/input_buffer.c)
-- Positions are 1-based string indices; `e` is always one past the last usable byte.
-- Encoding (framing) is lib/heka_encoder.lua's.

local M = {}

-- The wire format is read with the product's own primitives (lua/modules/stacklight/
-- protobuf_wire.lua and int64.lua: the entry scripts put lua/modules on package.path), held to
-- lua_sandbox's C by the same comparisons as the rest of this file (heka-native.test.ts); the
-- messages the stage writes are framed by lib/heka_encoder.lua, the tests' one encoder.
local wire = require "stacklight.protobuf_wire"
local int64 = require "stacklight.int64"
local encoder = require "heka_encoder"

local byte, sub, find = string.byte, string.sub, string.find
local floor = math.floor
local wire_varint64, int64_number = wire.read_varint64, int64.number

M.MAX_HDR_SIZE = 255 + 3 -- LSB_MAX_HDR_SIZE
M.UUID_SIZE = 16
M.DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024
M.READ_NAMES = {
  Uuid = "uuid", Timestamp = "timestamp", Type = "type", Logger = "logger", Severity = "severity",
  Payload = "payload", EnvVersion = "env_version", Pid = "pid", Hostname = "hostname",
}

---------------------------------------------------------------------------------------------
-- varints: a value is kept as its unsigned 32-bit halves (lo, hi), both exact in a double, so
-- conversions round once, like C's (double)(long long).

local TWO31, TWO32 = 2147483648, 4294967296

-- lsb_pb_read_varint: returns the position after the varint, lo, hi; nil on failure (every
-- byte must lie before e; the 10th keeps only bit 63, as C's shift does).
local function read_varint(s, p, e)
  if not p or p >= e then return nil end
  local lo, hi, np = wire_varint64(s, p)
  if not lo or np > e then return nil end
  return np, lo, hi
end
M.read_varint = read_varint

-- (long long) interpretation, as a double (one rounding)
local varint_number = int64_number
M.varint_number = varint_number

-- (int) cast of the long long: keep the low 32 bits, two's complement
local function varint_int32(lo)
  if lo >= TWO31 then return lo - TWO32 end
  return lo
end
M.varint_int32 = varint_int32

-- a non-negative length, or nil when the long long is negative
local function varint_length(lo, hi)
  if hi >= TWO31 then return nil end
  return hi * TWO32 + lo
end

-- lsb_pb_read_key: one byte, no bounds check (callers only call it with p < e)
local KEY_TAG, KEY_WIRETYPE = {}, {}
for b = 0, 255 do KEY_TAG[b], KEY_WIRETYPE[b] = floor(b / 8), b % 8 end
local function read_key(s, p)
  local b = byte(s, p) or 0
  return KEY_TAG[b], KEY_WIRETYPE[b], p + 1
end

-- 8 bytes, little endian IEEE 754 (callers check that they are there)
local decode_double = wire.read_double
M.decode_double = decode_double

---------------------------------------------------------------------------------------------
-- lsb_decode_heka_message

-- read_string: returns the position after the string, its start and length
local function read_string(wiretype, s, p, e)
  if wiretype ~= 2 then return nil end
  local np, lo, hi = read_varint(s, p, e)
  if not np then return nil end
  local len = varint_length(lo, hi)
  if not len or np + len > e then return nil end
  return np + len, np, len
end

local function process_varint(wiretype, s, p, e)
  if wiretype ~= 0 then return nil end
  return read_varint(s, p, e)
end

-- process_fields: f gets name, value_type, representation, and the [vs, ve) value region.
-- (This is the reference the stage's C decoder, native/heka_native.c, is held to: written for
-- plain reading, not speed.)
local function process_fields(f, s, p, e)
  local np, lo, hi = read_varint(s, p, e)
  if not np then return nil end
  local len = varint_length(lo, hi)
  if not len or np + len > e then return nil end
  p = np
  e = p + len
  if len == 0 then return nil end -- no name can be read from an empty record
  repeat
    local b = byte(s, p) or 0
    local tag, wiretype = KEY_TAG[b], KEY_WIRETYPE[b]
    p = p + 1
    if tag == 1 or tag == 3 then
      local after, sp, n = read_string(wiretype, s, p, e)
      if after then
        if tag == 1 then f.name = sub(s, sp, sp + n - 1) else f.representation = sub(s, sp, sp + n - 1) end
      end
      p = after
    elseif tag == 2 then
      local vlo
      p, vlo = process_varint(wiretype, s, p, e)
      if p then f.value_type = varint_int32(vlo) end
    elseif tag == 4 or tag == 5 then
      -- values are expected last: keep the region from this key to the end of the record
      if wiretype ~= 2 then
        p = nil
      else
        f.vs, f.ve = p - 1, e
        p = e
      end
    elseif tag == 6 or tag == 7 or tag == 8 then
      if (tag == 6 or tag == 8) and wiretype ~= 0 and wiretype ~= 2 then
        p = nil
      elseif tag == 7 and wiretype ~= 1 and wiretype ~= 2 then
        p = nil
      else
        if wiretype == 2 then
          local vlo, vhi
          p, vlo, vhi = read_varint(s, p, e)
          local vlen = p and varint_length(vlo, vhi)
          if not p or not vlen or p + vlen > e then p = nil end
        end
        if p then
          f.vs, f.ve = p, e
          p = e
        end
      end
    else
      p = nil -- unknown tags are not allowed
    end
  until not p or p >= e
  if p and f.name then return p end
  return nil
end

local HEADER_STRING = { [3] = "type", [4] = "logger", [6] = "payload", [7] = "env_version", [9] = "hostname" }

-- Decodes a protobuf Heka message. Returns the message table, or nil and the reason. The table
-- holds what lsb_heka_message holds: raw, uuid, timestamp (a double), type, logger, severity (7
-- when absent), payload, env_version, pid (0 when absent), hostname, fields (array of
-- {name, value_type, representation, vs, ve}).
function M.decode(s)
  local len = #s
  if len == 0 then return nil, "invalid buffer" end
  local fields = {}
  local m = { raw = s, timestamp = 0, severity = 7, pid = 0, fields = fields }
  local nfields = 0
  local p, e = 1, len + 1
  local lp = p
  local has_timestamp = false
  local tag, wiretype
  repeat
    local b = byte(s, p) or 0
    tag, wiretype = KEY_TAG[b], KEY_WIRETYPE[b]
    p = p + 1
    if tag == 10 then
      if wiretype ~= 2 then
        p = nil
      else
        -- (the nil entries size the table at once: no rehash as the keys arrive)
        local f = { value_type = 0, name = nil, representation = nil, vs = nil, ve = nil }
        p = process_fields(f, s, p, e)
        nfields = nfields + 1
        fields[nfields] = f
      end
    elseif tag == 1 or HEADER_STRING[tag] then
      local after, sp, n = read_string(wiretype, s, p, e)
      if after and tag == 1 and n ~= M.UUID_SIZE then after = nil end
      if after then m[tag == 1 and "uuid" or HEADER_STRING[tag]] = sub(s, sp, sp + n - 1) end
      p = after
    elseif tag == 2 or tag == 5 or tag == 8 then
      local lo, hi
      p, lo, hi = process_varint(wiretype, s, p, e)
      if p and tag == 2 then
        m.timestamp = varint_number(lo, hi)
        -- as the C decoder keeps them: bits 0..27 and 28..63
        m.timestamp_lo, m.timestamp_hi = lo % 268435456, hi * 16 + floor(lo / 268435456)
        has_timestamp = true
      elseif p then
        m[tag == 5 and "severity" or "pid"] = varint_int32(lo)
      end
    else
      p = nil -- unknown tags are not allowed
    end
    if p then lp = p end
  until not p or p >= e
  if not p then return nil, string.format("tag:%d wiretype:%d position:%d", tag, wiretype, lp - 1) end
  if not m.uuid then return nil, "missing Uuid" end
  if not has_timestamp then return nil, "missing Timestamp" end
  return m
end

---------------------------------------------------------------------------------------------
-- lsb_read_heka_field

local function read_string_value(s, p, e, ai)
  local acnt = 0
  while p and p < e do
    local _, wiretype
    _, wiretype, p = read_key(s, p)
    local start, n
    p, start, n = read_string(wiretype, s, p, e)
    if p then
      if ai == acnt then return sub(s, start, start + n - 1) end
      acnt = acnt + 1
    end
  end
  return nil
end

local function read_integer_value(s, p, e, ai)
  local acnt = 0
  while p and p < e do
    local lo, hi
    p, lo, hi = read_varint(s, p, e)
    if p then
      if ai == acnt then return varint_number(lo, hi) end
      acnt = acnt + 1
    end
  end
  return nil
end

local function read_double_value(s, p, e, ai)
  if p + 8 * (ai + 1) > e then return nil end
  return decode_double(s, p + 8 * ai)
end

-- Returns the value of Fields[name] (field index fi, array index ai) as read_message does:
-- strings, numbers (doubles) and booleans; nil when absent. Also returns the read type.
function M.read_field(m, name, fi, ai)
  local fcnt = 0
  local s = m.raw
  for i = 1, #m.fields do
    local f = m.fields[i]
    if f.name == name then
      if fi == fcnt then
        local p, e = f.vs, f.ve
        if not p then return nil end
        local t = f.value_type
        if t == 0 or t == 1 then
          local v = read_string_value(s, p, e, ai)
          return v, v ~= nil and "string" or nil
        elseif t == 2 then
          local v = read_integer_value(s, p, e, ai)
          return v, v ~= nil and "number" or nil
        elseif t == 4 then
          local v = read_integer_value(s, p, e, ai)
          if v == nil then return nil end
          return v ~= 0, "boolean", v
        elseif t == 3 then
          local v = read_double_value(s, p, e, ai)
          return v, v ~= nil and "number" or nil
        end
        return nil
      end
      fcnt = fcnt + 1
    end
  end
  return nil
end

---------------------------------------------------------------------------------------------
-- framing

M.frame = encoder.frame

-- decode_header: the message length, or 0
local function decode_header(s, p, hlen, max)
  if byte(s, p) ~= 0x08 then return 0 end
  if hlen > 1 then
    local np, lo, hi = read_varint(s, p + 1, p + hlen)
    if np then
      local v = varint_number(lo, hi)
      if v > 0 and v <= max then return v end
    end
  end
  return 0
end

---------------------------------------------------------------------------------------------
-- Stream reader: lsb_input_buffer + lsb_find_heka_message + hsr_find_message.

local Reader = {}
Reader.__index = Reader

local BUFSIZ = 8192

local function lp2(n)
  local v = 1
  while v < n do v = v * 2 end
  return v
end

-- max_message_size as Hindsight's heka_tcp and queue readers pass it
function M.stream_reader(max_message_size)
  local maxsize = (max_message_size or M.DEFAULT_MAX_MESSAGE_SIZE) + M.MAX_HDR_SIZE
  return setmetatable({
    buf = "", scanpos = 0, msglen = 0, maxsize = maxsize,
    size = maxsize < BUFSIZ and maxsize or BUFSIZ,
    discarded = 0,
  }, Reader)
end

-- lsb_expand_input_buffer + copy: false when the data does not fit (the C code raises
-- "buffer reallocation failed")
function Reader:append(data)
  if #data == 0 then return true end
  if self.scanpos ~= 0 then
    self.buf = sub(self.buf, self.scanpos + 1)
    self.scanpos = 0
  end
  local readpos = #self.buf
  if readpos + #data > self.size then
    local newsize = readpos + #data
    if newsize > self.maxsize then return false end
    newsize = lp2(newsize)
    if newsize > self.maxsize then newsize = self.maxsize end
    self.size = newsize
  end
  self.buf = self.buf .. data
  return true
end

-- lsb_find_heka_message (decode = true unless told otherwise). Returns the message (a decoded
-- table, or {raw = ...} when not decoding) or nil. Garbage, bad headers and messages that do not
-- decode are skipped one byte at a time, then scanning resumes at the next 0x1E.
function Reader:find(decode)
  if decode == nil then decode = true end
  local s = self.buf
  local readpos = #s
  while true do
    if readpos == self.scanpos then return nil end
    local p = find(s, "\30", self.scanpos + 1, true)
    if not p then
      self.discarded = self.discarded + (readpos - self.scanpos)
      self.buf, self.scanpos, self.msglen = "", 0, 0
      return nil
    end
    local pos = p - 1 -- 0-based offset of the record separator
    self.discarded = self.discarded + (pos - self.scanpos)
    self.scanpos = pos
    if readpos - pos < 2 then return nil end
    local hlen = byte(s, pos + 2)
    local hend = pos + hlen + 3
    if hend > readpos then return nil end
    local skip
    if byte(s, hend) ~= 0x1f then
      skip = true
    else
      if self.msglen == 0 then
        self.msglen = decode_header(s, pos + 3, hlen, self.maxsize - M.MAX_HDR_SIZE)
      end
      if self.msglen > 0 then
        local mend = hend + self.msglen
        if mend > readpos then return nil end
        local raw = sub(s, hend + 1, mend)
        if decode then
          local m = M.decode(raw)
          self.msglen = 0
          if m then
            self.scanpos = mend
            return m
          end
          skip = true
        else
          self.scanpos = mend
          self.msglen = 0
          return { raw = raw }
        end
      else
        skip = true
      end
    end
    if skip then
      self.scanpos = self.scanpos + 1
      self.discarded = self.discarded + 1
    end
  end
end

-- Bytes waiting in the buffer (not yet consumed).
function Reader:buffered()
  return #self.buf - self.scanpos
end

-- hsr_find_message's third result when nothing was found: how much to read next.
function Reader:need()
  local readpos = #self.buf
  if self.msglen > 0 then
    return self.msglen + byte(self.buf, self.scanpos + 2) + 3 - (readpos - self.scanpos)
  end
  return self.scanpos + self.size - readpos
end

---------------------------------------------------------------------------------------------
-- The sandbox API over a decoded message.

-- read_message(var, fi, ai) of heka_read_message; nil message -> nil.
function M.read_message(m, var, fi, ai)
  if type(var) ~= "string" and type(var) ~= "number" then
    error("bad argument #1 to 'read_message' (string expected, got " .. type(var) .. ")", 3)
  end
  var = tostring(var)
  fi = fi == nil and 0 or tonumber(fi)
  ai = ai == nil and 0 or tonumber(ai)
  if fi == nil then error("bad argument #2 to 'read_message' (number expected)", 3) end
  if ai == nil then error("bad argument #3 to 'read_message' (number expected)", 3) end
  fi = fi >= 0 and floor(fi) or -floor(-fi)
  ai = ai >= 0 and floor(ai) or -floor(-ai)
  if fi < 0 then error("bad argument #2 to 'read_message' (field index must be >= 0)", 3) end
  if ai < 0 then error("bad argument #3 to 'read_message' (array index must be >= 0)", 3) end
  if not m then return nil end
  if var == "Uuid" then return m.uuid end
  if var == "Timestamp" then return m.timestamp end
  if var == "Type" then return m.type end
  if var == "Logger" then return m.logger end
  if var == "Severity" then return m.severity end
  if var == "Payload" then return m.payload end
  if var == "EnvVersion" then return m.env_version end
  if var == "Pid" then return m.pid end
  if var == "Hostname" then return m.hostname end
  if var == "raw" then return m.raw end
  if var == "framed" then return M.frame(m.raw) end
  if #var >= 8 and sub(var, 1, 7) == "Fields[" and sub(var, -1) == "]" then
    local v = M.read_field(m, sub(var, 8, -2), fi, ai)
    return v
  end
  return nil
end

-- heka_decode_message: the message as a table; raises an error on invalid input.
local function dm_process_fields(s, p, e)
  local np, lo, hi = read_varint(s, p, e)
  if not np then return nil end
  local len = varint_length(lo, hi)
  if not len or np + len > e then return nil end
  p = np
  e = p + len
  local field, values, has_name = {}, {}, false
  if len == 0 then return nil end
  repeat
    local tag, wiretype
    tag, wiretype, p = read_key(s, p)
    if tag == 1 then
      local start, n
      p, start, n = read_string(wiretype, s, p, e)
      if p then field.name = sub(s, start, start + n - 1); has_name = true end
    elseif tag == 2 then
      local vlo, vhi
      p, vlo, vhi = process_varint(wiretype, s, p, e)
      if p then field.value_type = varint_number(vlo, vhi) end
    elseif tag == 3 then
      local start, n
      p, start, n = read_string(wiretype, s, p, e)
      if p then field.representation = sub(s, start, start + n - 1) end
    elseif tag == 4 or tag == 5 then
      local start, n
      p, start, n = read_string(wiretype, s, p, e)
      if p then values[#values + 1] = sub(s, start, start + n - 1) end
    elseif tag == 6 or tag == 8 then
      if wiretype == 0 then
        local vlo, vhi
        p, vlo, vhi = read_varint(s, p, e)
        if p then
          local v = varint_number(vlo, vhi)
          if tag == 8 then values[#values + 1] = v ~= 0 else values[#values + 1] = v end
        end
      elseif wiretype == 2 then
        local vlo, vhi
        p, vlo, vhi = read_varint(s, p, e)
        local n = p and varint_length(vlo, vhi)
        if not p or not n or p + n > e then
          p = nil
        else
          repeat
            p, vlo, vhi = read_varint(s, p, p + n)
            if not p then break end
            local v = varint_number(vlo, vhi)
            if tag == 8 then values[#values + 1] = v ~= 0 else values[#values + 1] = v end
          until p >= e
        end
      else
        p = nil
      end
    elseif tag == 7 then
      if wiretype == 1 then
        if p + 8 > e then p = nil else
          values[#values + 1] = decode_double(s, p)
          p = p + 8
        end
      elseif wiretype == 2 then
        local vlo, vhi
        p, vlo, vhi = read_varint(s, p, e)
        local n = p and varint_length(vlo, vhi)
        if not p or not n or p + n > e or n % 8 ~= 0 then
          p = nil
        else
          repeat
            values[#values + 1] = decode_double(s, p)
            p = p + 8
          until p >= e
        end
      else
        p = nil
      end
    else
      p = nil
    end
  until not p or p >= e
  field.value = values
  if has_name then return p, field end
  return nil
end

function M.decode_message(s)
  if type(s) ~= "string" then
    error("bad argument #0 to 'decode_message' (must have one string argument)", 2)
  end
  local len = #s
  if len < 20 then error("invalid message, too short", 2) end
  local p, e, lp = 1, len + 1, 1
  local msg, fields = {}, nil
  local has_uuid, has_timestamp = false, false
  local tag, wiretype
  repeat
    tag, wiretype, p = read_key(s, p)
    if tag == 1 then
      local start, n
      p, start, n = read_string(wiretype, s, p, e)
      if p and p - lp == 18 then
        msg.Uuid = sub(s, start, start + n - 1)
        has_uuid = true
      else
        p = nil
      end
    elseif tag == 2 or tag == 5 or tag == 8 then
      local lo, hi
      p, lo, hi = process_varint(wiretype, s, p, e)
      if p then
        local key = tag == 2 and "Timestamp" or tag == 5 and "Severity" or "Pid"
        msg[key] = varint_number(lo, hi)
        if tag == 2 then has_timestamp = true end
      end
    elseif tag == 3 or tag == 4 or tag == 6 or tag == 7 or tag == 9 then
      local start, n
      p, start, n = read_string(wiretype, s, p, e)
      if p then
        local key = (tag == 3 and "Type") or (tag == 4 and "Logger") or (tag == 6 and "Payload")
            or (tag == 7 and "EnvVersion") or "Hostname"
        msg[key] = sub(s, start, start + n - 1)
      end
    elseif tag == 10 then
      if wiretype ~= 2 then
        p = nil
      else
        local field
        p, field = dm_process_fields(s, p, e)
        if p then
          fields = fields or {}
          fields[#fields + 1] = field
        end
      end
    else
      p = nil
    end
    if p then lp = p end
  until not p or p >= e
  if not p then
    error(string.format("error in tag: %d wiretype: %d offset: %d", tag, wiretype, lp - 1), 2)
  end
  if not has_uuid or not has_timestamp then
    error(string.format("missing required field uuid: %s timestamp: %s",
      has_uuid and "found" or "not found", has_timestamp and "found" or "not found"), 2)
  end
  if fields then msg.Fields = fields end
  return msg
end

---------------------------------------------------------------------------------------------
-- The same decoder in C (native/heka_native.c) when the stage runs with it (test/support/
-- heka-native.ts builds it and puts it on LUA_CPATH): Hindsight decodes in C, and in Lua the
-- decoding was half of each stage process's time. M.lua_decode stays the reference the C one is
-- compared with (test/support/heka-native.test.ts).
M.lua_decode = M.decode
local has_native, native = pcall(require, "heka_native")
M.native = has_native
if has_native then M.decode = native.decode end

return M
