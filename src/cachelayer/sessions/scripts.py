"""The Lua scripts behind sessions (each addresses ``KEYS[1]`` only).

A session is a Redis hash.  Data fields are ``"d" + key`` (values encoded by
the cache's codec); metadata fields start with ``~``:

======  ==========================================================
``~u``  user id ("" for none)        ``~v``  version (bumped per save)
``~c``  created (Unix ms)            ``~s``  last seen (Unix ms)
``~a``  absolute expiry (Unix ms)    ``~z``  bytes of data (names + values)
``~i``  idle timeout (ms)            ``~r``  requests counted so far
======  ==========================================================

Every write sets ``PEXPIRE`` to ``min(idle, absolute - now)``: Redis itself
removes an idle or over-age session (both limits are enforced server-side,
whatever the clients do).  Status codes returned by the writers: 1 done,
-1 absent, -2 over its absolute lifetime (removed), -3 version conflict,
-4 over the size limit (nothing written).
"""

from __future__ import annotations

__all__ = ["CREATE", "END", "LOAD", "META", "SAVE", "TOUCH", "USER_ADD", "USER_LIST", "USER_REMOVE"]

# ARGV: now, created, absolute_ms, idle_ms, user_id, size, f1, v1, f2, v2, ...
CREATE = b"""
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local now = tonumber(ARGV[1])
local absolute = tonumber(ARGV[3])
local idle = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], '~u', ARGV[5], '~c', ARGV[2], '~a', absolute, '~i', idle,
  '~v', 1, '~s', now, '~z', ARGV[6], '~r', 0)
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], math.max(1, math.min(idle, absolute - now)))
return 1
"""

LOAD = b"return redis.call('HGETALL', KEYS[1])"

META = b"return redis.call('HMGET', KEYS[1], '~u', '~c', '~a', '~s', '~r', '~v')"

# ARGV: now, expect_version (-1: any), max_bytes, n_sets, requests, known_version,
#       f1, v1, ..., d1, d2, ...
# One HMGET of the metadata and of the written or deleted fields (their old sizes), one HSET
# of the fields and the new metadata, HDEL if needed, PEXPIRE.  Kept short: EVAL sends and
# hashes the source on every call.  Returns {status, version, size, hash, requests}: when the
# session was at known_version (the caller's copy is the stored state), hash is 0 and the
# caller builds the saved session itself; else it is the session as HGETALL gives it.  Either
# way the save is written through to the L1: the next load of it here needs no round trip.
SAVE = b"""local k=KEYS[1]
local now=tonumber(ARGV[1])
local j=7+2*tonumber(ARGV[4])
local q={'~a','~v','~z','~i','~r'}
for i=7,j-1,2 do q[#q+1]=ARGV[i] end
for i=j,#ARGV do q[#q+1]=ARGV[i] end
local m=redis.call('HMGET',k,unpack(q))
if not m[1] then return {-1,0,0} end
local a=tonumber(m[1])
if a<=now then redis.call('UNLINK',k) return {-2,0,0} end
local v=tonumber(m[2])
local e=tonumber(ARGV[2])
if e>=0 and e~=v then return {-3,v,0} end
local z=tonumber(m[3])
local p=5
for i=7,j-1,2 do
p=p+1
if m[p] then z=z-#m[p]+#ARGV[i+1] else z=z+#ARGV[i]+#ARGV[i+1] end
end
for i=j,#ARGV do
p=p+1
if m[p] then z=z-#m[p]-#ARGV[i] end
end
if z>tonumber(ARGV[3]) then return {-4,v,z} end
local r=(tonumber(m[5]) or 0)+tonumber(ARGV[5])
local known=tonumber(ARGV[6])==v
v=v+1
redis.call('HSET',k,'~v',v,'~z',z,'~s',ARGV[1],'~r',r,unpack(ARGV,7,j-1))
if j<=#ARGV then redis.call('HDEL',k,unpack(ARGV,j)) end
redis.call('PEXPIRE',k,math.max(1,math.min(tonumber(m[4]),a-now)))
if known then return {1,v,z,0,r} end
return {1,v,z,redis.call('HGETALL',k),r}
"""

# ARGV: now, requests
TOUCH = b"""
local k = KEYS[1]
local now = tonumber(ARGV[1])
local meta = redis.call('HMGET', k, '~a', '~i')
if not meta[1] then return -1 end
local absolute = tonumber(meta[1])
if absolute <= now then redis.call('UNLINK', k) return -2 end
redis.call('HSET', k, '~s', now)
if tonumber(ARGV[2]) > 0 then redis.call('HINCRBY', k, '~r', ARGV[2]) end
redis.call('PEXPIRE', k, math.max(1, math.min(tonumber(meta[2]), absolute - now)))
return 1
"""

# Removes the session; its user, created time and request count (or nil if absent).
END = b"""
local meta = redis.call('HMGET', KEYS[1], '~u', '~c', '~r')
if not meta[2] then return false end
redis.call('UNLINK', KEYS[1])
return meta
"""

# The user's index (sorted set of handles by absolute expiry). ARGV: now, handle, absolute_ms
USER_ADD = b"""
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
redis.call('PEXPIREAT', KEYS[1], redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
return 1
"""

# ARGV: now
USER_LIST = b"""
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""

# ARGV: handle1, handle2, ...
USER_REMOVE = b"return redis.call('ZREM', KEYS[1], unpack(ARGV))"
