-- Hindsight's message matcher in Lua 5.1 (test infrastructure): the grammar of lua_sandbox's
-- src/util/heka_message_matcher_parser.leg and the evaluation of heka_message_matcher.c.
--
--   match    = sp ored eol            ored = anded ("||" anded)*     anded = expr ("&&" expr)*
--   expr     = test | "(" ored ")"
--   test     = <string header> (rel | "=~" | "!~") <'string' or "string">
--            | ("Severity" | "Pid") rel <number>
--            | Fields[name][fi][ai] (rel (<string> | <number>) | ("=~" | "!~") <string>
--                                    | ("==" | "!=") (TRUE | FALSE | NIL))
--            | "Timestamp" rel (<number> | <quoted RFC 3339>)
--            | TRUE | FALSE
--   string headers: Type Logger Hostname EnvVersion Payload Uuid;   rel: == != >= > <= <
--   =~ and !~ use Lua patterns (lua_sandbox's string matcher is Lua's).
-- A missing header compares as the empty string; Fields[x] tests are false when the field is
-- missing or of the other kind (string vs numeric/boolean), except the NIL tests.

local heka = require "heka"

local M = {}

local sub, find, match = string.sub, string.find, string.match

local STRING_HEADERS = { "EnvVersion", "Hostname", "Payload", "Logger", "Type", "Uuid" }
local NUMERIC_HEADERS = { "Severity", "Pid" }
local RELATIONAL = { "==", "!=", ">=", ">", "<=", "<" }
local MAX_CONDITIONS = 127 -- (cond_cnt * 2 + 1) must fit an unsigned char

local Parser = {}
Parser.__index = Parser

local function perr(self, what)
  error({ matcher_error = string.format("%s at offset %d in %q", what, self.pos - 1, self.s) }, 0)
end

function Parser:sp()
  local _, e = find(self.s, "^[ \t]*", self.pos)
  self.pos = e + 1
end

function Parser:lit(text)
  if sub(self.s, self.pos, self.pos + #text - 1) == text then
    self.pos = self.pos + #text
    return true
  end
  return false
end

function Parser:one_of(list)
  for _, text in ipairs(list) do
    if self:lit(text) then return text end
  end
  return nil
end

function Parser:relational()
  local op = self:one_of(RELATIONAL)
  if op then self:sp() end
  return op
end

function Parser:string_match()
  local op = self:one_of({ "=~", "!~" })
  if op then self:sp() end
  return op
end

function Parser:string_value()
  local q = sub(self.s, self.pos, self.pos)
  if q ~= '"' and q ~= "'" then return nil end
  local i = self.pos + 1
  local out = {}
  while true do
    local c = sub(self.s, i, i)
    if c == "" then perr(self, "unterminated string") end
    local nxt = sub(self.s, i + 1, i + 1)
    if c == "\\" and (nxt == '"' or nxt == "'") then
      -- set_string_value unescapes \" and \' (in either kind of quotes); other backslashes stay
      out[#out + 1] = nxt
      i = i + 2
    elseif c == q then
      break
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
  local value = table.concat(out)
  if #value > 255 then perr(self, "string longer than 255 bytes") end
  self.pos = i + 1
  return value
end

function Parser:numeric_value()
  local text = match(self.s, "^[-+]?0", self.pos) or match(self.s, "^[-+]?[1-9][0-9]*", self.pos)
  if not text then return nil end
  local p = self.pos + #text
  local dec = match(self.s, "^%.[0-9]+", p)
  if dec then text = text .. dec; p = p + #dec end
  local exp = match(self.s, "^[eE][-+]?[0-9]+", p)
  if exp then text = text .. exp; p = p + #exp end
  self.pos = p
  return tonumber(text)
end

-- days since 1970-01-01 of a proleptic Gregorian date
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

function Parser:rfc3339()
  local q = sub(self.s, self.pos, self.pos)
  if q ~= '"' and q ~= "'" then return nil end
  local rest = sub(self.s, self.pos + 1)
  local y, mo, d, h, mi, se, after = match(rest,
    "^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)()")
  if not y then perr(self, "invalid RFC 3339 time") end
  local frac = match(rest, "^%.%d+", after) or ""
  after = after + #frac
  local offset = 0
  local tz = sub(rest, after, after)
  if tz == "Z" then
    after = after + 1
  else
    local sign, oh, om = match(rest, "^([-+])(%d%d)(%d%d)", after)
    if not sign then perr(self, "invalid RFC 3339 offset") end
    offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "-" and -1 or 1)
    after = after + 5
  end
  if sub(rest, after, after) ~= q then perr(self, "unterminated RFC 3339 time") end
  self.pos = self.pos + after + 1
  -- lua_sandbox: (mktime(tm) in UTC + fraction + offset) * 1e9; it ADDS the offset as written
  local seconds = days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
      + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(se)
  return (seconds + (frac ~= "" and tonumber(frac) or 0) + offset) * 1e9
end

function Parser:index()
  local digits = match(self.s, "^%[(%d+)%]", self.pos)
  if not digits then return nil end
  local n = tonumber(digits)
  if n > 255 or (#digits > 1 and sub(digits, 1, 1) == "0") then perr(self, "invalid index") end
  self.pos = self.pos + #digits + 2
  return n
end

function Parser:test()
  local start = self.pos
  -- boolean tests
  if self:lit("TRUE") then self:sp(); return { kind = "const", value = true } end
  if self:lit("FALSE") then self:sp(); return { kind = "const", value = false } end

  local header = self:one_of(STRING_HEADERS)
  if header then
    self:sp()
    local op = self:relational() or self:string_match()
    if not op then perr(self, "expected an operator") end
    local value = self:string_value()
    if not value then perr(self, "expected a string") end
    self:sp()
    return { kind = "string_header", header = header, op = op, value = value }
  end

  header = self:one_of(NUMERIC_HEADERS)
  if header then
    self:sp()
    local op = self:relational()
    if not op then perr(self, "expected a relational operator") end
    local value = self:numeric_value()
    if not value then perr(self, "expected a number") end
    self:sp()
    return { kind = "numeric_header", header = header, op = op, value = value }
  end

  if self:lit("Timestamp") then
    self:sp()
    local op = self:relational()
    if not op then perr(self, "expected a relational operator") end
    local value = self:numeric_value() or self:rfc3339()
    if not value then perr(self, "expected a number or a quoted RFC 3339 time") end
    self:sp()
    return { kind = "numeric_header", header = "Timestamp", op = op, value = value }
  end

  if self:lit("Fields[") then
    local name = match(self.s, "^([^%]]*)%]", self.pos)
    if not name then perr(self, "unterminated Fields[") end
    self.pos = self.pos + #name + 1
    local fi = self:index() or 0
    local ai = self:index() or 0
    self:sp()
    local node = { kind = "field", name = name, fi = fi, ai = ai }
    local op = self:relational()
    if op then
      node.op = op
      local s = self:string_value()
      if s then
        node.value_type, node.value = "string", s
      else
        local n = self:numeric_value()
        if n then
          node.value_type, node.value = "numeric", n
        elseif op == "==" or op == "!=" then
          if self:lit("TRUE") then
            node.value_type, node.value = "numeric", 1
          elseif self:lit("FALSE") then
            node.value_type, node.value = "numeric", 0
          elseif self:lit("NIL") then
            node.value_type = "nil"
          else
            perr(self, "expected a value")
          end
        else
          perr(self, "expected a string or a number")
        end
      end
    else
      op = self:string_match()
      if not op then perr(self, "expected an operator") end
      node.op = op
      local s = self:string_value()
      if not s then perr(self, "expected a string") end
      node.value_type, node.value = "string", s
    end
    self:sp()
    return node
  end
  self.pos = start
  perr(self, "expected a test")
end

function Parser:count_condition()
  self.conditions = self.conditions + 1
  if self.conditions * 2 + 1 > 255 then perr(self, "too many conditions (max " .. MAX_CONDITIONS .. ")") end
end

function Parser:expr()
  if self:lit("(") then
    self:sp()
    local node = self:ored()
    if not self:lit(")") then perr(self, "expected )") end
    self:sp()
    return node
  end
  return self:test()
end

function Parser:anded()
  local node = self:expr()
  while self:lit("&&") do
    self:count_condition()
    self:sp()
    node = { kind = "and", left = node, right = self:expr() }
  end
  self:sp()
  return node
end

function Parser:ored()
  local node = self:anded()
  while self:lit("||") do
    self:count_condition()
    self:sp()
    node = { kind = "or", left = node, right = self:anded() }
  end
  self:sp()
  return node
end

-- string_test with the C code's strncmp(val, value, #val) comparisons
local function string_test(op, val, value)
  if op == "==" then return val == value end
  if op == "!=" then return val ~= value end
  if op == "=~" then return find(val, value) ~= nil end
  if op == "!~" then return find(val, value) == nil end
  local prefix = sub(value, 1, #val)
  local cmp = (val < prefix and -1) or (val > prefix and 1) or 0
  if op == "<" then
    if cmp == 0 then return #val < #value end
    return cmp < 0
  elseif op == "<=" then
    return cmp <= 0
  elseif op == ">" then
    if cmp == 0 then return #val > #value end
    return cmp > 0
  elseif op == ">=" then
    if cmp == 0 then return #val == #value end
    return cmp > 0
  end
  return false
end

local function numeric_test(op, val, value)
  if op == "==" then return val == value end
  if op == "!=" then return val ~= value end
  if op == "<" then return val < value end
  if op == "<=" then return val <= value end
  if op == ">" then return val > value end
  if op == ">=" then return val >= value end
  return false
end

local HEADER_KEYS = {
  Type = "type", Logger = "logger", Hostname = "hostname", EnvVersion = "env_version",
  Payload = "payload", Uuid = "uuid", Severity = "severity", Pid = "pid", Timestamp = "timestamp",
}

local function eval(node, m)
  local kind = node.kind
  if kind == "or" then return eval(node.left, m) or eval(node.right, m) end
  if kind == "and" then return eval(node.left, m) and eval(node.right, m) end
  if kind == "const" then return node.value end
  if kind == "string_header" then
    return string_test(node.op, m[HEADER_KEYS[node.header]] or "", node.value)
  end
  if kind == "numeric_header" then
    return numeric_test(node.op, m[HEADER_KEYS[node.header]], node.value)
  end
  -- Fields[...]
  local v, t, n = heka.read_field(m, node.name, node.fi, node.ai)
  if node.value_type == "nil" then
    if v ~= nil then return node.op == "!=" end
    return node.op == "=="
  elseif node.value_type == "string" then
    if t == "string" then return string_test(node.op, v, node.value) end
    return false
  else
    if t == "number" then return numeric_test(node.op, v, node.value) end
    if t == "boolean" then return numeric_test(node.op, n, node.value) end
    return false
  end
end

-- Compiles an expression; returns a matcher with :eval(message), or nil and the error.
function M.compile(expression)
  if type(expression) ~= "string" then return nil, "the message_matcher must be a string" end
  local parser = setmetatable({ s = expression, pos = 1, conditions = 0 }, Parser)
  local ok, result = pcall(function()
    parser:sp()
    local node = parser:ored()
    if parser.pos <= #expression then perr(parser, "unexpected text") end
    return node
  end)
  if not ok then
    if type(result) == "table" and result.matcher_error then return nil, result.matcher_error end
    error(result, 0)
  end
  return { tree = result, eval = function(self, m) return eval(self.tree, m) end }
end

return M
