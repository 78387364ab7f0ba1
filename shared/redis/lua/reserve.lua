--[[
  The stock worker's step for one queued ticket: hold its units, park it until held
  units come back, or end it. Idempotent: a ticket that is no longer queued is left as
  it is and its status returned, so a retried job continues where it stopped.
    KEYS[1..6] product keys   KEYS[7] ticket hash
    ARGV[1] ticketId  ARGV[2] hold window (ms)  ARGV[3] terminal ticket TTL (s)
  Returns {status} where status is 'reserved', 'waiting', 'sold_out', 'rejected', any
  later status of an already-processed ticket, or 'missing' (no such ticket). When this
  call made the hold: {'reserved', userId, qty, heldAtMs, requestId} (what fulfilling it
  needs). When this call ended the ticket sold out: {'sold_out', 1} (the caller sweeps).
  Fairness: a ticket never takes units while an older ticket is parked.
]]
--- @include "product"

local tkey, ticketId = KEYS[7], ARGV[1]
local holdMs, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
local status, user, qty, seq, rid = unpack(redis.call('HMGET', tkey, 'status', 'user', 'qty', 'seq', 'rid'))
if not status then return {'missing'} end
if status ~= 'queued' then return {status} end
qty = tonumber(qty)

local now = nowMs()
if overLimit(user, qty) then
  finish(tkey, ticketId, 'rejected', 'per_user_limit', now, ttl)
  return {'rejected'}
end
local avail = pnum('available')
if qty > avail + pnum('reserved') then
  finish(tkey, ticketId, 'sold_out', '', now, ttl)
  return {'sold_out', 1}
end
local olderParked = redis.call('ZCOUNT', K_WAITING, '-inf', '(' .. seq)
if olderParked == 0 and qty <= avail then
  hold(tkey, ticketId, user, qty, now, holdMs)
  return {'reserved', user, qty, now, rid or ''}
end
redis.call('ZADD', K_WAITING, seq, ticketId)
return {'waiting'}
