-- Decodes every record of a file ("<length>\n<bytes>" records) with lib/heka.lua's Lua decoder
-- (the reference) and with the C one (heka_native, on LUA_CPATH), and prints one JSON object:
-- how many records, how many decoded, the first differences, and each record's outcome under
-- the reference ("outcomes": "1" decoded, "0" refused, a character per record). Run by
-- heka-native.test.ts.
--   LUA_CPATH="DIR/?.so;;" lua5.1 compare.lua FILE
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/../lib/?.lua;" .. here .. "/../../../../lua/modules/?.lua;" .. package.path
local heka = require "heka"
local util = require "util"

if not heka.native then
  io.stderr:write("heka_native is not on LUA_CPATH\n")
  os.exit(2)
end
local native = require "heka_native"

-- Numbers with every digit a double has, strings quoted.
local function text(v)
  if type(v) == "number" then return string.format("%.17g", v) end
  return string.format("%q", tostring(v))
end

-- A canonical text of a decode result: every key, sorted, fields in order.
local function show(m, reason)
  if not m then return "nil: " .. tostring(reason) end
  local keys = {}
  for k in pairs(m) do if k ~= "fields" then keys[#keys + 1] = k end end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. text(m[k]) end
  for i, f in ipairs(m.fields) do
    local fkeys = {}
    for k in pairs(f) do fkeys[#fkeys + 1] = k end
    table.sort(fkeys)
    for _, k in ipairs(fkeys) do parts[#parts + 1] = string.format("fields[%d].%s=%s", i, k, text(f[k])) end
  end
  parts[#parts + 1] = "#fields=" .. #m.fields
  return table.concat(parts, " ")
end

local fh = assert(io.open(arg[1], "rb"))
local data = fh:read("*a")
fh:close()
local records, decoded, different, differences, outcomes = 0, 0, 0, {}, {}
local p = 1
while p <= #data do
  local nl = data:find("\n", p, true)
  local len = tonumber(data:sub(p, nl - 1))
  local s = data:sub(nl + 1, nl + len)
  p = nl + len + 1
  records = records + 1
  local expected = show(heka.lua_decode(s))
  local got = show(native.decode(s))
  local ok = expected:sub(1, 4) ~= "nil:"
  if ok then decoded = decoded + 1 end
  outcomes[records] = ok and "1" or "0"
  if expected ~= got then
    different = different + 1
    if #differences < 5 then differences[#differences + 1] = { record = records, lua = expected, c = got } end
  end
end
print(util.json({ records = records, decoded = decoded, different = different, differences = differences,
  outcomes = table.concat(outcomes) }))
