--[[
  After a rebuild from the MySQL ledger: every pending order holds its units again. A
  pending order whose ticket Redis forgot gets it back as `reserved` (with its order id
  and payment method, so it can still be paid) and a fresh hold; one whose ticket
  survived keeps it, and its hold deadline comes back if the holds set was lost.
    KEYS[1..8] product keys
    ARGV[1] ticket prefix  ARGV[2] now (ms)  ARGV[3] hold (ms)
    ARGV[4..] per pending order: ticketId, userId, qty, paymentMethod, orderId
  Returns the ids of the tickets it gave back (their payment jobs must be added again).
]]
--- @include "product"

local prefix, now, holdMs = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local restored = {}
for i = 4, #ARGV, 5 do
  local id, user, qty, pm, order = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local tkey = prefix .. id
  local status, resAt = unpack(redis.call('HMGET', tkey, 'status', 'resAt'))
  if not status then
    redis.call('DEL', tkey)
    redis.call('HSET', tkey, 'status', 'reserved', 'user', user, 'qty', qty, 'pm', pm, 'order', order,
      'resAt', now, 'created', now, 'updated', now)
    redis.call('ZADD', K_HOLDS, 'NX', now + holdMs, id)
    restored[#restored + 1] = id
    logEvent('restored', id, user, qty, '', order)
  elseif status == 'reserved' then
    redis.call('ZADD', K_HOLDS, 'NX', (tonumber(resAt) or now) + holdMs, id)
    logEvent('restored', id, user, qty, '', order)
  end
end
return restored
