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

# ARGV: now, expect_version (-1: any), max_bytes, n_sets, requests, f1, v1, ..., d1, d2, ...
# One HMGET of the metadata, HSTRLEN (not HGET: no copy) per written or deleted field, one
# HSET of the fields and the new metadata, HDEL if needed, PEXPIRE.  Kept short: EVAL sends
# and hashes the source on every call.  A save returns the session as HGETALL would (its
# fourth item): written through to the L1, the next load of it here needs no round trip.
SAVE = b"""local k=KEYS[1]
local now=tonumber(ARGV[1])
local m=redis.call('HMGET',k,'~a','~v','~z','~i','~r')
if not m[1] then return {-1,0,0} end
local a=tonumber(m[1])
if a<=now then redis.call('UNLINK',k) return {-2,0,0} end
local v=tonumber(m[2])
local e=tonumber(ARGV[2])
if e>=0 and e~=v then return {-3,v,0} end
local z=tonumber(m[3])
local j=6+2*tonumber(ARGV[4])
for i=6,j-1,2 do
local f=ARGV[i]
local o=redis.call('HSTRLEN',k,f)
if o==0 and redis.call('HEXISTS',k,f)==0 then z=z+#f end
z=z-o+#ARGV[i+1]
end
for i=j,#ARGV do
local f=ARGV[i]
local o=redis.call('HSTRLEN',k,f)
if o>0 or redis.call('HEXISTS',k,f)==1 then z=z-o-#f end
end
if z>tonumber(ARGV[3]) then return {-4,v,z} end
v=v+1
redis.call('HSET',k,'~v',v,'~z',z,'~s',ARGV[1],'~r',(tonumber(m[5]) or 0)+tonumber(ARGV[5]),
unpack(ARGV,6,j-1))
if j<=#ARGV then redis.call('HDEL',k,unpack(ARGV,j)) end
redis.call('PEXPIRE',k,math.max(1,math.min(tonumber(m[4]),a-now)))
return {1,v,z,redis.call('HGETALL',k)}
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
