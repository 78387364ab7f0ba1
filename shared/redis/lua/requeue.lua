--[[
  After a rebuild: tickets that Redis lost (or that outlived their product's state) and
  that were still waiting are queued again with their old order key, so they keep their
  place ahead of anyone admitted later, and reach a terminal status like any other.
    KEYS[1..8] product keys
    ARGV[1] ticket prefix  ARGV[2] now (ms)  ARGV[3] admission job id
    ARGV[4..] per ticket: ticketId, userId, qty, paymentMethod, orderKey, requestId
  A ticket that is terminal, holding units (in the holds set) or already queued is left as it is.
  Returns the ids queued again.
]]
--- @include "product"

local prefix, now, job = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local queued = {}
for i = 4, #ARGV, 6 do
  local id, user, qty, pm, seq, rid = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local tkey = prefix .. id
  local status = redis.call('HGET', tkey, 'status')
  if (not status or status == 'queued' or status == 'reserved') and not redis.call('ZSCORE', K_PENDING, id)
      and not redis.call('ZSCORE', K_WAITING, id) and not redis.call('ZSCORE', K_HOLDS, id) then
    redis.call('HINCRBY', K_PRODUCT, 't_queued', 1)
    redis.call('HSET', tkey, 'status', 'queued', 'user', user, 'qty', qty, 'pm', pm, 'seq', seq, 'rid', rid, 'job', job,
      'created', redis.call('HGET', tkey, 'created') or now, 'updated', now)
    redis.call('HDEL', tkey, 'resAt')
    redis.call('PERSIST', tkey)
    redis.call('ZADD', K_QUEUED, seq, id)
    redis.call('ZADD', K_PENDING, seq, id)
    redis.call('HSET', K_LIVE, user, id)
    logEvent('requeued', id, user, qty, seq)
    queued[#queued + 1] = id
  end
end
return queued
