--[[
  Ends a reserved ticket whose payment failed, whose hold expired, or whose order can
  never be stored, and gives its units back exactly once: to the oldest parked tickets first. Idempotent: the ids of
  the tickets that received the units are kept on the released ticket, so a retry
  returns the same list and the caller can finish handing them over.
    KEYS[1..8] product keys   KEYS[9] ticket hash
    ARGV[1] ticketId  ARGV[2] ticket prefix  ARGV[3] new status ('payment_failed'|'expired'|'rejected')
    ARGV[4] reason  ARGV[5] terminal TTL (s)  ARGV[6] hold (ms)  ARGV[7] batch size
  Returns {outcome, promotedIds, remainingQueuedToSweep} where outcome is 'released' (also
  for a retry of the same release), or the ticket's status when it was not reserved
  ('paid' means the charge won the race), or 'not_loaded' when the product's state is not
  in Redis (the caller rebuilds it and tries again).
]]
--- @include "product"

deferProduct({'total', 'available', 'reserved', 't_reserved', 'evh'})
if not loaded() then return {'not_loaded', {}, 0} end

local tkey, ticketId, prefix, newStatus = KEYS[9], ARGV[1], ARGV[2], ARGV[3]
local ttl, holdMs, batch = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local status, user, qty, given = unpack(redis.call('HMGET', tkey, 'status', 'user', 'qty', 'promoted'))
if not status then return {'missing', {}, 0} end
if status ~= 'reserved' then
  local ids = {}
  if status == newStatus then
    for id in string.gmatch(given or '', '[^,]+') do ids[#ids + 1] = id end
    return {'released', ids, 0}
  end
  return {status, ids, 0}
end
qty = tonumber(qty)

local now = nowMs()
pincr('available', qty)
pincr('reserved', -qty)
if redis.call('HINCRBY', K_HELD, user, -qty) <= 0 then redis.call('HDEL', K_HELD, user) end
finish(tkey, ticketId, newStatus, ARGV[4], now, ttl)
local promoted = promote(prefix, now, holdMs, ttl, batch)
if #promoted > 0 then redis.call('HSET', tkey, 'promoted', table.concat(promoted, ',')) end
local left = sweepSoldOut(prefix, now, ttl, batch)
flushProduct()
return {'released', promoted, left}
