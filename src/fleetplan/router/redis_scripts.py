"""The Lua scripts behind `RedisState.admit` and `RedisState.settle` (see `state`): each one
Redis round trip, all or nothing."""

from __future__ import annotations

# A bucket's refilled level (HMGET level, ts), shared by both scripts: LEVEL(key, rate, cap)
_LEVEL_LUA = """
local function level_of(key, now, rate, cap)
  local h = redis.call('HMGET', key, 'level', 'ts')
  local level = tonumber(h[1]); local ts = tonumber(h[2])
  if level == nil or ts == nil then return cap end
  return math.min(cap, level + math.max(0, now - ts) * rate)
end
local function store(key, now, rate, cap, level)
  redis.call('HSET', key, 'level', tostring(level), 'ts', tostring(now))
  redis.call('EXPIRE', key, math.ceil(cap / rate) + 60)
end
"""

# ARGV[1] holds a script's numbers in one space-separated string and ARGV[2] the lease id:
# redis-py encodes each argument on its own in Python, and per request that packing was most
# of the gateway's Redis CPU, so a request sends 2 arguments instead of ~15.
_NUMS_LUA = """
local n = {}
for w in string.gmatch(ARGV[1], '%S+') do n[#n + 1] = tonumber(w) end
"""

# KEYS: the buckets' keys, the slot's if one is taken, then keys that must be absent;
# numbers: now, n buckets, 1 if a slot is taken, (rate, cap, cost, need) per bucket, then the
# slot's ttl and limit (-1: none); ARGV[2]: the slot's id. Returns 0, or the step that refused
# (-1: a key was present).
ADMIT_LUA = (
    _LEVEL_LUA
    + _NUMS_LUA
    + """
local now = n[1]; local nb = n[2]; local ns = n[3]
if #KEYS > nb + ns and redis.call('EXISTS', unpack(KEYS, nb + ns + 1)) > 0 then return -1 end
local levels = {}
for i = 1, nb do
  local a = 3 + (i - 1) * 4
  local level = level_of(KEYS[i], now, n[a + 1], n[a + 2])
  if level < n[a + 4] then return i end
  levels[i] = level - n[a + 3]
end
if ns == 1 then
  local a = 3 + nb * 4
  local k = KEYS[nb + 1]; local ttl = n[a + 1]; local limit = n[a + 2]
  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
  if limit >= 0 and redis.call('ZCARD', k) >= limit then return nb + 1 end
  redis.call('ZADD', k, now + ttl, ARGV[2])
  redis.call('PEXPIRE', k, math.ceil(ttl * 1000) + 1000)
end
for i = 1, nb do
  local a = 3 + (i - 1) * 4
  store(KEYS[i], now, n[a + 1], n[a + 2], levels[i])
end
return 0
"""
)

# KEYS: the buckets' keys, the lease's key if one is dropped, then keys to delete;
# numbers: now, n buckets, 1 if a lease is dropped, then (rate, cap, cost) per bucket;
# ARGV[2]: the lease's id.
SETTLE_LUA = (
    _LEVEL_LUA
    + _NUMS_LUA
    + """
local now = n[1]; local nb = n[2]
for i = 1, nb do
  local a = 3 + (i - 1) * 3
  local rate = n[a + 1]; local cap = n[a + 2]
  store(KEYS[i], now, rate, cap, level_of(KEYS[i], now, rate, cap) - n[a + 3])
end
local d = nb + 1
if n[3] == 1 then redis.call('ZREM', KEYS[nb + 1], ARGV[2]); d = nb + 2 end
if #KEYS >= d then redis.call('DEL', unpack(KEYS, d)) end
return 0
"""
)


def pack(nums: list[float]) -> str:
    """Numbers as one Lua-readable string (repr round-trips a float exactly)."""
    return " ".join(map(repr, nums))
