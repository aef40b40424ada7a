-- This Source Code Form is part of ms-stacklight.
--[[
# stacklight.heka_protobuf

Decodes a raw Heka message (the protobuf string of `read_message("raw")`, without stream
framing) into a reusable view, keeping what the sandbox API loses:
- 64-bit integers exactly: the header Timestamp and INTEGER field values are kept as their
  low/high 32-bit halves and converted to exact decimal strings on demand (`read_message`
  returns doubles, exact only up to 2^53, while a nanosecond epoch is ~1.7e18);
- the value type of every field (INTEGER and DOUBLE are both Lua numbers after read_message);
- every occurrence of a repeated field name (Snap sends two `name` fields when a dynamic
  namespace element is itself called `name`): fields are kept in order, with their names.

decode() only indexes the message (the headers, the byte range of every field); field names are
read by names() and a field's values by parse(i), when first asked for, so a caller that needs
three fields of ten pays for three. Runs of header entries that repeat from one message to the
next (Type, Logger, Severity, Pid, Hostname) are recognised with one comparison. Nothing raises
on malformed input: decode returns nil and a reason, and a field whose values cannot be parsed
gets value type -1.

Wire format: mozilla-services/heka message/message.proto (Message fields 1-10, Field fields 1-8;
value_integer/value_double/value_bool accepted packed and unpacked; unknown fields skipped).
The protobuf primitives (varints, doubles, skipping entries) are stacklight.protobuf_wire's, the
exact 64-bit arithmetic stacklight.int64's; this module is the Heka message on top of them.

API:
    local hpb = require "stacklight.heka_protobuf"
    local m = hpb.new()             -- one view, reused for every message
    local ok, err = m:decode(raw)
    local ok, first = m:decode(raw, true) -- the headers only: true and where the fields start
    m:decode(nil, false, first)     -- then the rest: as m:decode(raw)
    m.n                             -- number of fields
    m:names(); m.name[i]            -- reads the names; name of field i (1-based, in order)
    m:first_index(name), m:last_index(name) -- index of the first/last field with that name
    m:is_named(i, "\10\5value")     -- cheap name test without reading the names
    m.estart[i]                     -- byte offset of field i's entry in raw (for cache keys)
    m:parse(i)                      -- parses field i; then:
    m.vtype[i]                      -- 0 STRING, 1 BYTES, 2 INTEGER, 3 DOUBLE, 4 BOOL, -1 invalid
    m.count[i], m.value[i]          -- number of values, first value (string/number/boolean)
    m.strings[m.sfirst[i] + k - 1]  -- k-th value (k <= count) of a STRING/BYTES field
    m:integer_string(i)             -- exact int64 decimal of the first value of INTEGER field i
    m:field_time(i, divisor)        -- floor(value / divisor) of INTEGER field i, exact string
    m:header_time(divisor)          -- floor(Timestamp / divisor), exact string
    m:header_timestamp()            -- the Timestamp header as unsigned 64-bit halves lo, hi
    m:get_type(), m:get_logger(), m:get_hostname()  -- headers (nil when absent)
--]]

local string = require "string"
local wire = require "stacklight.protobuf_wire"
local int64 = require "stacklight.int64"

local byte, sub, find = string.byte, string.sub, string.find
local setmetatable, type = setmetatable, type
local read_small, read_varint64, skip_entry = wire.read_small, wire.read_varint64, wire.skip_entry
local double_of, read_double = wire.double_of, wire.read_double
local int64_number, int64_string, udiv_string = int64.number, int64.string, int64.udiv_string

local M = {}
M.__index = M

local TWO31 = 2147483648

M.STRING, M.BYTES, M.INTEGER, M.DOUBLE, M.BOOL, M.INVALID = 0, 1, 2, 3, 4, -1

-- The view -------------------------------------------------------------------------------------

function M.new()
    return setmetatable({
        raw = nil, n = 0, gen = 0,
        name = {}, estart = {}, fbody = {}, fstop = {}, parsed = {},
        vtype = {}, count = {}, value = {}, ilo = {}, ihi = {}, sfirst = {},
        strings = {}, nstrings = 0,
        ts_pos = nil, ts_gen = 0, ts_lo = nil, ts_hi = nil,
        runs = {}, run_hints = {}, run_next = 0,
    }, M)
end

-- The name of a Field whose name entry is not first: returns name, or nil and a reason.
local function find_name(raw, pos, stop)
    while pos < stop do
        local tag = byte(raw, pos)
        if tag == 10 then
            local l, p = read_small(raw, pos + 1)
            if not l or p + l > stop then return nil, "bad field name" end
            return sub(raw, p, p + l - 1)
        end
        pos = skip_entry(raw, pos + 1, tag, stop)
        if not pos then return nil, "malformed field" end
    end
    return nil, "field without a name"
end

-- Header entries that repeat byte for byte from one message of a producer to the next (Type,
-- Logger, Severity, EnvVersion, Pid, Hostname). decode() remembers the last runs of them and
-- skips a repeated run with one comparison: Snap's messages differ only in Uuid, Timestamp,
-- Payload and fields.
local STABLE = { [26] = true, [34] = true, [40] = true, [58] = true, [64] = true, [74] = true }
local MAX_RUNS = 4

-- Walks the run of stable headers at pos. Returns the run record and the position after it.
local function scan_run(raw, pos, len)
    local start = pos
    local tag = byte(raw, pos)
    local trel, tlen, lrel, llen, hrel, hlen
    while tag and STABLE[tag] do
        if tag == 40 or tag == 64 then
            local _, _, p = read_varint64(raw, pos + 1)
            if not p then return nil end
            pos = p
        else
            local l, p = read_small(raw, pos + 1)
            if not l then return nil end
            if tag == 26 then
                trel, tlen = p - start, l
            elseif tag == 34 then
                lrel, llen = p - start, l
            elseif tag == 74 then
                hrel, hlen = p - start, l
            end
            pos = p + l
        end
        if pos > len + 1 then return nil end
        tag = byte(raw, pos)
    end
    return { sub(raw, start, pos - 1), trel, tlen, lrel, llen, hrel, hlen }, pos
end

--- Indexes raw (headers and the byte range of every field). Returns true, or nil and a reason.
--- With head_only, stops at the first field and returns true and its position: the headers
--- before it are read and checked, no field is (n stays 0); true and nothing else when there is
--- no field; nil and a reason as without it, or for a Timestamp that does not come first.
--- m:decode(nil, false, first) then finishes that decode: the same as m:decode(raw).
function M.decode(self, raw, head_only, resume_at)
    local pos, k, ts_pos
    local type_pos, type_len, logger_pos, logger_len, host_pos, host_len
    if resume_at then -- the rest of a head_only decode (self.raw, fields not yet indexed)
        raw, pos, k, ts_pos = self.raw, resume_at, self.head_runs, self.ts_pos
        type_pos, type_len, logger_pos, logger_len = self.type_pos, self.type_len, self.logger_pos, self.logger_len
        host_pos, host_len = self.hostname_pos, self.hostname_len
    else
        self.n = 0
        self.nstrings = 0
        self.gen = self.gen + 1
        self.ts_pos = nil
        if type(raw) ~= "string" then
            self.raw = nil
            self.type_pos, self.logger_pos, self.hostname_pos = nil, nil, nil
            return nil, "no message"
        end
        self.raw = raw
        pos, k = 1, 0
    end

    local estart, fbody, fstop = self.estart, self.fbody, self.fstop
    local runs, hints = self.runs, self.run_hints
    local len = #raw
    local n, first_field = 0, nil
    while pos <= len do
        local tag, l, l2 = byte(raw, pos, pos + 2)
        if tag == 82 and head_only then
            first_field = pos
            break
        elseif tag == 82 then -- a Field
            local p = pos + 2
            if not l then return nil, "truncated field" end
            if l >= 128 then
                if l2 and l2 < 128 then
                    l, p = l - 128 + l2 * 128, pos + 3
                else
                    l, p = read_small(raw, pos + 1)
                    if not l then return nil, "bad field length" end
                end
            end
            local stop = p + l
            if stop > len + 1 then return nil, "truncated field" end
            n = n + 1
            estart[n], fbody[n], fstop[n] = pos, p, stop
            pos = stop
        elseif STABLE[tag] then
            k = k + 1
            local run
            local h = hints[k]
            if h and find(raw, runs[h][1], pos, true) == pos then
                run = runs[h]
            else
                for r = 1, #runs do
                    if r ~= h and find(raw, runs[r][1], pos, true) == pos then
                        run = runs[r]
                        hints[k] = r
                        break
                    end
                end
            end
            local start = pos
            if run then
                pos = pos + #run[1]
            else
                run, pos = scan_run(raw, pos, len)
                if not run then return nil, "malformed header" end
                local r = self.run_next % MAX_RUNS + 1
                self.run_next = r
                runs[r] = run
                hints[k] = r
            end
            if run[2] then type_pos, type_len = start + run[2], run[3] end
            if run[4] then logger_pos, logger_len = start + run[4], run[5] end
            if run[6] then host_pos, host_len = start + run[6], run[7] end
        elseif tag == 10 or tag == 50 then -- Uuid, Payload: once a message, so no inlined varint
            local n_bytes, p = read_small(raw, pos + 1)
            if not n_bytes then return nil, l and "bad header length" or "truncated header" end
            pos = p + n_bytes
        elseif tag == 16 then -- Timestamp: only where it ends (its last byte is below 128) for now;
            -- header_timestamp() reads it if asked: Snap's messages carry their time in a field
            local last = find(raw, "[%z\1-\127]", pos + 1)
            if not last or last > pos + 10 then return nil, "bad Timestamp" end
            ts_pos, pos = pos + 1, last + 1
        else
            pos = skip_entry(raw, pos + 1, tag, len + 1)
            if not pos then return nil, "malformed message" end
        end
    end
    self.type_pos, self.type_len = type_pos, type_len
    self.logger_pos, self.logger_len = logger_pos, logger_len
    self.hostname_pos, self.hostname_len = host_pos, host_len
    if first_field then
        if not ts_pos then return nil, "no Timestamp before the fields" end
        self.ts_pos, self.head_runs = ts_pos, k
        return true, first_field
    end
    if pos ~= len + 1 then return nil, "truncated message" end
    if not ts_pos then return nil, "missing Timestamp" end
    self.n = n
    self.ts_pos = ts_pos
    return true
end

--- Reads the names of all fields into m.name (once per decode). Returns true, or nil and a
--- reason (a field without a name makes the message invalid).
function M.names(self)
    if self.names_gen == self.gen then return self.names_ok, self.names_err end
    self.names_gen = self.gen
    local raw, names, fbody, fstop = self.raw, self.name, self.fbody, self.fstop
    for i = 1, self.n do
        local p, stop = fbody[i], fstop[i]
        local t, nl = byte(raw, p, p + 1)
        if t == 10 and nl and nl < 128 and p + 2 + nl <= stop then
            names[i] = sub(raw, p + 2, p + 1 + nl)
        else
            local name, err = find_name(raw, p, stop)
            if not name then
                self.names_ok, self.names_err = nil, err
                return nil, err
            end
            names[i] = name
        end
    end
    self.names_ok, self.names_err = true, nil
    return true
end

--- True when field i is called name; prefix is "\10" .. string.char(#name) .. name
--- (precomputed by the caller; names shorter than 128 bytes that come first in the field).
function M.is_named(self, i, prefix)
    local p = self.fbody[i]
    return p ~= nil and find(self.raw, prefix, p, true) == p
end

--- Index of the first field called name, or nil.
function M.first_index(self, name)
    if not M.names(self) then return nil end
    local names = self.name
    for i = 1, self.n do
        if names[i] == name then return i end
    end
    return nil
end

--- Index of the last field called name, or nil.
function M.last_index(self, name)
    if not M.names(self) then return nil end
    local names = self.name
    for i = self.n, 1, -1 do
        if names[i] == name then return i end
    end
    return nil
end

function M.get_type(self)
    local p = self.type_pos
    return p and sub(self.raw, p, p + self.type_len - 1)
end
function M.get_logger(self)
    local p = self.logger_pos
    return p and sub(self.raw, p, p + self.logger_len - 1)
end
function M.get_hostname(self)
    local p = self.hostname_pos
    return p and sub(self.raw, p, p + self.hostname_len - 1)
end

local function invalid(self, i)
    self.vtype[i], self.count[i], self.value[i] = -1, 0, nil
end

-- The payload of the length-delimited entry whose tag byte is at pos (l: the byte after the tag,
-- as read): its first position and the position after it; nil when it does not fit before stop.
local function payload(raw, pos, l, stop)
    if not l then return nil end
    local p = pos + 2
    if l >= 128 then
        l, p = read_small(raw, pos + 1)
        if not l then return nil end
    end
    if p + l > stop then return nil end
    return p, p + l
end

--- Parses the values of field i (once per decode).
local function parse(self, i)
    if self.parsed[i] == self.gen then return end
    self.parsed[i] = self.gen
    local raw = self.raw
    local pos, stop = self.fbody[i], self.fstop[i]

    -- Fast path: name, value_type, an optional short representation, one value: the layout
    -- Heka's Go encoder (message.NewField always sets representation, "" by default) and
    -- lua_sandbox's encoder write.
    local t0, nl = byte(raw, pos, pos + 1)
    if t0 == 10 and nl and nl < 128 then
        local p = pos + 2 + nl
        local t1, vt, t2, l, c1, c2, c3, c4, c5, c6, c7, c8 = byte(raw, p, p + 11)
        if t2 == 26 and l and l < 128 then -- representation: skip it
            p = p + 2 + l
            t2, l, c1, c2, c3, c4, c5, c6, c7, c8 = byte(raw, p + 2, p + 11)
        end
        if t1 == 16 and l and l < 128 and p + 4 + l == stop then
            if vt == 3 and t2 == 58 and l == 8 then
                self.vtype[i], self.count[i], self.value[i] = 3, 1, double_of(c1, c2, c3, c4, c5, c6, c7, c8)
                return
            elseif vt == 2 and t2 == 50 then
                local lo, hi, e = read_varint64(raw, p + 4)
                if lo and e == stop then
                    self.vtype[i], self.count[i], self.value[i] = 2, 1, int64_number(lo, hi)
                    self.ilo[i], self.ihi[i] = lo, hi
                    return
                end
            elseif (vt == 0 and t2 == 34) or (vt == 1 and t2 == 42) then
                local ns = self.nstrings + 1
                local s = sub(raw, p + 4, stop - 1)
                self.strings[ns] = s
                self.nstrings = ns
                self.vtype[i], self.count[i], self.value[i], self.sfirst[i] = vt, 1, s, ns
                return
            end
        end
    end

    local vtype = 0
    local s1, scount = nil, 0
    local ilo, ihi, icount = nil, nil, 0
    local d1, dcount = nil, 0
    local b1, bcount = nil, 0
    local strings, ns = self.strings, self.nstrings
    local sfirst = ns + 1
    while pos < stop do
        local tag, l, x1, x2, x3, x4, x5, x6, x7, x8 = byte(raw, pos, pos + 9)
        if tag == 10 and l and l < 128 then -- the name
            pos = pos + 2 + l
        elseif tag == 58 and l == 8 and x8 then -- one packed double: the common case
            dcount = dcount + 1
            if dcount == 1 then d1 = double_of(x1, x2, x3, x4, x5, x6, x7, x8) end
            pos = pos + 10
        elseif tag == 34 or tag == 42 then -- value_string, value_bytes
            local p, e = payload(raw, pos, l, stop)
            if not p then return invalid(self, i) end
            local s = sub(raw, p, e - 1)
            pos = e
            scount = scount + 1
            if scount == 1 then s1 = s end
            ns = ns + 1
            strings[ns] = s
        elseif tag == 16 then -- value_type
            if not l then return invalid(self, i) end
            if l < 128 then
                vtype, pos = l, pos + 2
            else
                vtype, pos = read_small(raw, pos + 1)
                if not vtype then return invalid(self, i) end
            end
        elseif tag == 50 then -- value_integer, packed
            local p, e = payload(raw, pos, l, stop)
            if not p then return invalid(self, i) end
            while p < e do
                local lo, hi
                lo, hi, p = read_varint64(raw, p)
                if not lo or p > e then return invalid(self, i) end
                icount = icount + 1
                if icount == 1 then ilo, ihi = lo, hi end
            end
            pos = e
        elseif tag == 48 then -- value_integer, unpacked
            local lo, hi
            lo, hi, pos = read_varint64(raw, pos + 1)
            if not lo or pos > stop then return invalid(self, i) end
            icount = icount + 1
            if icount == 1 then ilo, ihi = lo, hi end
        elseif tag == 58 then -- value_double, packed
            local p, e = payload(raw, pos, l, stop)
            if not p or (e - p) % 8 ~= 0 then return invalid(self, i) end
            if e > p and dcount == 0 then d1 = read_double(raw, p) end
            dcount = dcount + (e - p) / 8
            pos = e
        elseif tag == 57 then -- value_double, unpacked
            if not x7 then return invalid(self, i) end
            dcount = dcount + 1
            if dcount == 1 then d1 = double_of(l, x1, x2, x3, x4, x5, x6, x7) end
            pos = pos + 9
        elseif tag == 66 then -- value_bool, packed
            local p, e = payload(raw, pos, l, stop)
            if not p then return invalid(self, i) end
            if e > p and bcount == 0 then b1 = byte(raw, p) ~= 0 end
            bcount = bcount + (e - p)
            pos = e
        elseif tag == 64 then -- value_bool, unpacked
            local v
            v, pos = read_small(raw, pos + 1)
            if not v or pos > stop then return invalid(self, i) end
            bcount = bcount + 1
            if bcount == 1 then b1 = v ~= 0 end
        else -- name, representation, unknown entries
            pos = skip_entry(raw, pos + 1, tag, stop)
            if not pos then return invalid(self, i) end
        end
    end
    if pos ~= stop then return invalid(self, i) end
    self.vtype[i] = vtype
    if vtype == 0 or vtype == 1 then
        self.value[i], self.count[i], self.sfirst[i] = s1, scount, sfirst
        self.nstrings = ns
    elseif vtype == 2 then
        self.value[i], self.count[i] = ilo and int64_number(ilo, ihi), icount
        self.ilo[i], self.ihi[i] = ilo, ihi
    elseif vtype == 3 then
        self.value[i], self.count[i] = d1, dcount
    elseif vtype == 4 then
        self.value[i], self.count[i] = b1, bcount
    else
        invalid(self, i)
    end
end
M.parse = parse

--- Exact int64 decimal string of the first value of INTEGER field i (nil if none).
function M.integer_string(self, i)
    parse(self, i)
    local lo = self.ilo[i]
    if self.vtype[i] ~= 2 or not lo then return nil end
    return int64_string(lo, self.ihi[i])
end

--- floor(value / divisor) of INTEGER field i as an exact decimal string; nil unless the field is
--- a non-negative integer.
function M.field_time(self, i, divisor)
    parse(self, i)
    local lo, hi = self.ilo[i], self.ihi[i]
    if self.vtype[i] ~= 2 or not lo or hi >= TWO31 then return nil end
    return udiv_string(lo, hi, divisor)
end

--- The Timestamp header as its unsigned 64-bit halves lo, hi (read once per decode); nil
--- when no message is decoded.
local function header_timestamp(self)
    if not self.ts_pos then return nil end
    if self.ts_gen ~= self.gen then
        self.ts_gen = self.gen
        self.ts_lo, self.ts_hi = read_varint64(self.raw, self.ts_pos)
    end
    return self.ts_lo, self.ts_hi
end
M.header_timestamp = header_timestamp

--- floor(Timestamp / divisor) as an exact decimal string; nil for a negative Timestamp.
function M.header_time(self, divisor)
    local lo, hi = header_timestamp(self)
    if not lo or hi >= TWO31 then return nil end
    return udiv_string(lo, hi, divisor)
end

return M
