/*
 * The stage's Heka message decoder in C, as lua_sandbox has it (lsb_decode_heka_message in
 * src/util/heka_message.c): a Lua 5.1 module whose decode(s) returns exactly what
 * lib/heka.lua's M.decode returns, the same table for a valid message and the same reason for
 * an invalid one. lib/heka.lua stays the reference: test/support/heka-native.test.ts compares
 * the two on valid, crafted and mutated messages.
 *
 * Why it exists: both stage processes decode every message (the input to validate it, the
 * output for the matcher and read_message), and Hindsight does that in C. In Lua it cost about
 * half of each process's time, which the benchmark charged to the pipeline.
 *
 * Positions in the returned table are 1-based string indices, as in lib/heka.lua.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#define UUID_SIZE 16

/*
 * The table keys, made once and kept as upvalues of decode(): lua_setfield would intern its key
 * string again on every call, which cost more than the decoding.
 */
enum key {
  K_RAW = 1, K_UUID, K_TIMESTAMP, K_TIMESTAMP_LO, K_TIMESTAMP_HI, K_TYPE, K_LOGGER, K_SEVERITY,
  K_PAYLOAD, K_ENV_VERSION, K_PID, K_HOSTNAME, K_FIELDS, K_NAME, K_VALUE_TYPE, K_REPRESENTATION,
  K_VS, K_VE, K_COUNT = K_VE
};

static const char *const KEY_NAMES[K_COUNT] = {
  "raw", "uuid", "timestamp", "timestamp_lo", "timestamp_hi", "type", "logger", "severity",
  "payload", "env_version", "pid", "hostname", "fields", "name", "value_type", "representation",
  "vs", "ve",
};

/* t[key] = the value on the top of the stack (popped); t is an absolute index */
static void set(lua_State *L, int t, enum key key)
{
  lua_pushvalue(L, lua_upvalueindex(key));
  lua_insert(L, -2);
  lua_rawset(L, t);
}

static void set_number(lua_State *L, int t, enum key key, double value)
{
  lua_pushnumber(L, value);
  set(L, t, key);
}

static void set_string(lua_State *L, int t, enum key key, const unsigned char *s, long start, long len)
{
  lua_pushlstring(L, (const char *)s + start, (size_t)len);
  set(L, t, key);
}

/* lsb_pb_read_varint: the offset after the varint, or -1 (past `e`, or 10 bytes without an end). */
static long read_varint(const unsigned char *s, long p, long e, uint64_t *value)
{
  uint64_t v = 0;
  int i;
  if (p >= e) return -1;
  for (i = 0; i < 10; i++, p++) {
    unsigned char b;
    if (p >= e) return -1;
    b = s[p];
    if (i < 9) {
      v |= (uint64_t)(b & 0x7f) << (7 * i);
    } else {
      v |= (uint64_t)(b & 1) << 63; /* only bit 63 fits; C shifts the rest out */
    }
    if (b < 128) {
      *value = v;
      return p + 1;
    }
  }
  return -1;
}

/* a non-negative length, or -1 when the long long is negative */
static double varint_length(uint64_t v)
{
  return (int64_t)v < 0 ? -1 : (double)v;
}

static int varint_int32(uint64_t v)
{
  return (int32_t)(uint32_t)(v & 0xffffffffu);
}

/* read_string: the offset after the string (its start and length out), or -1 */
static long read_string(int wiretype, const unsigned char *s, long p, long e, long *start, long *len)
{
  uint64_t v;
  double n;
  long np;
  if (wiretype != 2) return -1;
  np = read_varint(s, p, e, &v);
  if (np < 0) return -1;
  n = varint_length(v);
  if (n < 0 || (double)np + n > (double)e) return -1;
  *start = np;
  *len = (long)n;
  return np + (long)n;
}

/* process_fields, into the field table f (an absolute index): the offset after it, or -1 */
static long process_fields(lua_State *L, int f, const unsigned char *s, long p, long e)
{
  uint64_t v;
  double len;
  long np = read_varint(s, p, e, &v);
  int has_name = 0;
  if (np < 0) return -1;
  len = varint_length(v);
  if (len < 0 || (double)np + len > (double)e) return -1;
  p = np;
  e = p + (long)len;
  if (len == 0) return -1; /* no name can be read from an empty record */
  do {
    int tag = s[p] >> 3, wiretype = s[p] & 7;
    long start, n;
    p++;
    if (tag == 1 || tag == 3) {
      p = read_string(wiretype, s, p, e, &start, &n);
      if (p >= 0) {
        set_string(L, f, tag == 1 ? K_NAME : K_REPRESENTATION, s, start, n);
        if (tag == 1) has_name = 1;
      }
    } else if (tag == 2) {
      if (wiretype != 0) {
        p = -1;
      } else {
        p = read_varint(s, p, e, &v);
        if (p >= 0) set_number(L, f, K_VALUE_TYPE, varint_int32(v));
      }
    } else if (tag == 4 || tag == 5) {
      /* values are expected last: keep the region from this key to the end of the record */
      if (wiretype != 2) {
        p = -1;
      } else {
        set_number(L, f, K_VS, p - 1 + 1);
        set_number(L, f, K_VE, e + 1);
        p = e;
      }
    } else if (tag == 6 || tag == 7 || tag == 8) {
      if ((tag == 6 || tag == 8) && wiretype != 0 && wiretype != 2) {
        p = -1;
      } else if (tag == 7 && wiretype != 1 && wiretype != 2) {
        p = -1;
      } else {
        if (wiretype == 2) {
          double vlen;
          p = read_varint(s, p, e, &v);
          vlen = p >= 0 ? varint_length(v) : -1;
          if (p < 0 || vlen < 0 || (double)p + vlen > (double)e) p = -1;
        }
        if (p >= 0) {
          set_number(L, f, K_VS, p + 1);
          set_number(L, f, K_VE, e + 1);
          p = e;
        }
      }
    } else {
      p = -1; /* unknown tags are not allowed */
    }
  } while (p >= 0 && p < e);
  return (p >= 0 && has_name) ? p : -1;
}

/* the key of a string header, or 0 */
static enum key header_string(int tag)
{
  switch (tag) {
  case 3: return K_TYPE;
  case 4: return K_LOGGER;
  case 6: return K_PAYLOAD;
  case 7: return K_ENV_VERSION;
  case 9: return K_HOSTNAME;
  default: return 0;
  }
}

/* decode(s): the message table, or nil and the reason (the same as lib/heka.lua's M.decode) */
static int decode(lua_State *L)
{
  size_t size;
  const unsigned char *s;
  luaL_checktype(L, 1, LUA_TSTRING); /* as string.byte on it would: a number is not converted */
  s = (const unsigned char *)lua_tolstring(L, 1, &size);
  long p = 0, e = (long)size, lp = 0;
  int tag = 0, wiretype = 0, nfields = 0, has_uuid = 0, has_timestamp = 0, m, fields;
  if (size == 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "invalid buffer");
    return 2;
  }
  lua_settop(L, 1);
  lua_createtable(L, 0, 13);
  m = lua_gettop(L);
  lua_pushvalue(L, 1);
  set(L, m, K_RAW);
  set_number(L, m, K_TIMESTAMP, 0);
  set_number(L, m, K_SEVERITY, 7);
  set_number(L, m, K_PID, 0);
  lua_createtable(L, 8, 0);
  fields = lua_gettop(L);
  lua_pushvalue(L, fields);
  set(L, m, K_FIELDS);
  do {
    long start, n;
    uint64_t v;
    tag = s[p] >> 3;
    wiretype = s[p] & 7;
    p++;
    if (tag == 10) {
      if (wiretype != 2) {
        p = -1;
      } else {
        lua_createtable(L, 0, 5);
        set_number(L, fields + 1, K_VALUE_TYPE, 0);
        p = process_fields(L, fields + 1, s, p, e);
        lua_rawseti(L, fields, ++nfields);
      }
    } else if (tag == 1 || header_string(tag)) {
      p = read_string(wiretype, s, p, e, &start, &n);
      if (p < 0) {
        /* not a string */
      } else if (tag == 1) {
        if (n == UUID_SIZE) {
          set_string(L, m, K_UUID, s, start, n);
          has_uuid = 1;
        } else {
          p = -1;
        }
      } else {
        set_string(L, m, header_string(tag), s, start, n);
      }
    } else if (tag == 2 || tag == 5 || tag == 8) {
      if (wiretype != 0) {
        p = -1;
      } else {
        p = read_varint(s, p, e, &v);
        if (p >= 0) {
          if (tag == 2) {
            set_number(L, m, K_TIMESTAMP, (double)(int64_t)v);
            set_number(L, m, K_TIMESTAMP_LO, (double)(v & 0xfffffff));
            set_number(L, m, K_TIMESTAMP_HI, (double)(v >> 28));
            has_timestamp = 1;
          } else {
            set_number(L, m, tag == 5 ? K_SEVERITY : K_PID, varint_int32(v));
          }
        }
      }
    } else {
      p = -1; /* unknown tags are not allowed */
    }
    if (p >= 0) lp = p;
  } while (p >= 0 && p < e);
  lua_settop(L, m);
  if (p < 0) {
    lua_pushnil(L);
    lua_pushfstring(L, "tag:%d wiretype:%d position:%d", tag, wiretype, (int)lp);
    return 2;
  }
  if (!has_uuid) {
    lua_pushnil(L);
    lua_pushliteral(L, "missing Uuid");
    return 2;
  }
  if (!has_timestamp) {
    lua_pushnil(L);
    lua_pushliteral(L, "missing Timestamp");
    return 2;
  }
  return 1;
}

int luaopen_heka_native(lua_State *L)
{
  int k;
  lua_newtable(L); /* no global: require's result only */
  for (k = 0; k < K_COUNT; k++) lua_pushstring(L, KEY_NAMES[k]);
  lua_pushcclosure(L, decode, K_COUNT);
  lua_setfield(L, -2, "decode");
  return 1;
}
