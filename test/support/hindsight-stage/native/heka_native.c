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

static void set_string(lua_State *L, const char *key, const unsigned char *s, long start, long len)
{
  lua_pushlstring(L, (const char *)s + start, (size_t)len);
  lua_setfield(L, -2, key);
}

static void set_number(lua_State *L, const char *key, double value)
{
  lua_pushnumber(L, value);
  lua_setfield(L, -2, key);
}

/* process_fields, with the field table on the top of the stack: the offset after it, or -1 */
static long process_fields(lua_State *L, const unsigned char *s, long p, long e)
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
        set_string(L, tag == 1 ? "name" : "representation", s, start, n);
        if (tag == 1) has_name = 1;
      }
    } else if (tag == 2) {
      if (wiretype != 0) {
        p = -1;
      } else {
        p = read_varint(s, p, e, &v);
        if (p >= 0) set_number(L, "value_type", varint_int32(v));
      }
    } else if (tag == 4 || tag == 5) {
      /* values are expected last: keep the region from this key to the end of the record */
      if (wiretype != 2) {
        p = -1;
      } else {
        set_number(L, "vs", p - 1 + 1);
        set_number(L, "ve", e + 1);
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
          set_number(L, "vs", p + 1);
          set_number(L, "ve", e + 1);
          p = e;
        }
      }
    } else {
      p = -1; /* unknown tags are not allowed */
    }
  } while (p >= 0 && p < e);
  return (p >= 0 && has_name) ? p : -1;
}

static const char *header_string(int tag)
{
  switch (tag) {
  case 3: return "type";
  case 4: return "logger";
  case 6: return "payload";
  case 7: return "env_version";
  case 9: return "hostname";
  default: return NULL;
  }
}

/* decode(s): the message table, or nil and the reason (the same as lib/heka.lua's M.decode) */
static int decode(lua_State *L)
{
  size_t size;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &size);
  long p = 0, e = (long)size, lp = 0;
  int tag = 0, wiretype = 0, nfields = 0, has_uuid = 0, has_timestamp = 0;
  if (size == 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "invalid buffer");
    return 2;
  }
  lua_createtable(L, 0, 13); /* m */
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "raw");
  set_number(L, "timestamp", 0);
  set_number(L, "severity", 7);
  set_number(L, "pid", 0);
  lua_createtable(L, 8, 0); /* m.fields */
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "fields");
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
        set_number(L, "value_type", 0);
        p = process_fields(L, s, p, e);
        lua_rawseti(L, -2, ++nfields);
      }
    } else if (tag == 1 || header_string(tag)) {
      p = read_string(wiretype, s, p, e, &start, &n);
      if (p < 0) {
        /* not a string */
      } else if (tag == 1) {
        if (n == UUID_SIZE) {
          lua_pushlstring(L, (const char *)s + start, (size_t)n);
          lua_setfield(L, -3, "uuid");
          has_uuid = 1;
        } else {
          p = -1;
        }
      } else {
        lua_pushlstring(L, (const char *)s + start, (size_t)n);
        lua_setfield(L, -3, header_string(tag));
      }
    } else if (tag == 2 || tag == 5 || tag == 8) {
      if (wiretype != 0) {
        p = -1;
      } else {
        p = read_varint(s, p, e, &v);
        if (p >= 0) {
          lua_pushvalue(L, -2); /* m */
          if (tag == 2) {
            set_number(L, "timestamp", (double)(int64_t)v);
            set_number(L, "timestamp_lo", (double)(v & 0xfffffff));
            set_number(L, "timestamp_hi", (double)(v >> 28));
            has_timestamp = 1;
          } else {
            set_number(L, tag == 5 ? "severity" : "pid", varint_int32(v));
          }
          lua_pop(L, 1);
        }
      }
    } else {
      p = -1; /* unknown tags are not allowed */
    }
    if (p >= 0) lp = p;
  } while (p >= 0 && p < e);
  lua_pop(L, 1); /* m.fields */
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

static const luaL_Reg functions[] = {
  { "decode", decode },
  { NULL, NULL },
};

int luaopen_heka_native(lua_State *L)
{
  lua_newtable(L); /* no global: require's result only */
  luaL_register(L, NULL, functions);
  return 1;
}
