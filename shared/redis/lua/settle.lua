--[[
  Records successful charges: each ticket's held units become sold. Only a ticket that
  is still reserved can be paid; a ticket whose hold already expired or failed keeps
  its terminal status (the caller refunds the late charge). The payment worker sends the
  charges that came back in one event-loop turn together (SettleCoalescer): what a script
  call costs Redis besides its commands, the product's fields and the promote/sweep
  check are paid once per call instead of once per sale.
    KEYS[1..8] product keys   KEYS[8 + i] ticket i's hash
    ARGV[1] ticket prefix  ARGV[2] terminal TTL (s)  ARGV[3] hold (ms)  ARGV[4] sweep batch size
    ARGV[4 + i] ticket i's id
  Returns one {outcome, promotedIds, remainingQueuedToSweep} per ticket, in order, the
  shape of every script that frees units: outcome 'paid' when paid (now or before),
  otherwise the ticket's terminal status ('expired', 'payment_failed', ...), 'missing',
  or 'not_loaded' when the product's state is not in Redis (the caller rebuilds it and
  tries again). Once the call's tickets are settled, parked tickets are promoted and the
  queue is swept: the tickets that got a hold because these sales ended the hopeless heads
  before them, and the count left to sweep, go with the last ticket this call paid (the
  caller hands them on: order, payment). They are kept on that ticket so a retry of it
  returns the same list.
]]
--- @include "product"

deferProduct({'total', 'available', 'reserved', 'sold', 't_reserved', 't_paid', 'evh'})
local n = #ARGV - 4
if not loaded() then
  local answers = {}
  for i = 1, n do answers[i] = {'not_loaded', {}, 0} end
  return answers
end

local prefix, ttl, holdMs, batch = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local answers, last = {}, nil
local now = nil
for i = 1, n do
  local tkey, ticketId = KEYS[8 + i], ARGV[4 + i]
  local status, qty, given = unpack(redis.call('HMGET', tkey, 'status', 'qty', 'promoted'))
  if not status then
    answers[i] = {'missing', {}, 0}
  elseif status ~= 'reserved' then
    local ids = {}
    if status == 'paid' then
      for id in string.gmatch(given or '', '[^,]+') do ids[#ids + 1] = id end
    end
    answers[i] = {status, ids, 0}
  else
    now = now or nowMs()
    qty = tonumber(qty)
    pincr('reserved', -qty)
    pincr('sold', qty)
    finish(tkey, ticketId, 'paid', '', now, ttl)
    answers[i] = {'paid', {}, 0}
    last = i
  end
end

if last then
  local promoted = promote(prefix, now, holdMs, ttl, batch)
  if #promoted > 0 then redis.call('HSET', KEYS[8 + last], 'promoted', table.concat(promoted, ',')) end
  answers[last] = {'paid', promoted, sweepSoldOut(prefix, now, ttl, batch)}
end
flushProduct()
return answers
