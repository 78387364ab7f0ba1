--[[
  Records a successful charge: the ticket's held units become sold. Only a ticket that
  is still reserved can be paid; a ticket whose hold already expired or failed keeps
  its terminal status (the caller refunds the late charge).
    KEYS[1..8] product keys   KEYS[9] ticket hash
    ARGV[1] ticketId  ARGV[2] ticket prefix  ARGV[3] terminal TTL (s)  ARGV[4] hold (ms)
    ARGV[5] sweep batch size
  Returns {outcome, promotedIds, remainingQueuedToSweep}, the shape of every script that
  frees units: outcome 'paid' when paid (now or before), otherwise the ticket's terminal
  status ('expired', 'payment_failed', ...), 'missing', or 'not_loaded' when the product's
  state is not in Redis (the caller rebuilds it and tries again). promotedIds are parked
  tickets that got a hold because this sale ended the hopeless heads before them; the
  caller hands them on (order, payment). They are kept on the ticket so a retry returns
  the same list.
]]
--- @include "product"

deferProduct({'total', 'available', 'reserved', 'sold', 't_reserved', 't_paid', 'evh'})
if not loaded() then return {'not_loaded', {}, 0} end

local tkey, ticketId, prefix = KEYS[9], ARGV[1], ARGV[2]
local ttl, holdMs, batch = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local status, qty, given = unpack(redis.call('HMGET', tkey, 'status', 'qty', 'promoted'))
if not status then return {'missing', {}, 0} end
if status ~= 'reserved' then
  local ids = {}
  if status == 'paid' then
    for id in string.gmatch(given or '', '[^,]+') do ids[#ids + 1] = id end
  end
  return {status, ids, 0}
end
qty = tonumber(qty)

local now = nowMs()
pincr('reserved', -qty)
pincr('sold', qty)
finish(tkey, ticketId, 'paid', '', now, ttl)
local promoted = promote(prefix, now, holdMs, ttl, batch)
if #promoted > 0 then redis.call('HSET', tkey, 'promoted', table.concat(promoted, ',')) end
local left = sweepSoldOut(prefix, now, ttl, batch)
flushProduct()
return {'paid', promoted, left}
