--[[
  The stock worker's step for one admission job, a batch of queued tickets in the order
  they were admitted: each gets a hold on its units, is parked until held units come
  back, or ends. Idempotent per ticket: a ticket that is no longer queued is left as it
  is and its status returned, so a retried job continues where it stopped.
  Admission rate: when ARGV[3] is '1', every ticket taken out of the queue uses a token
  of the product's bucket (`rate` tickets per second, at most 100 ms of them saved up).
  When the tokens run out the rest of the batch is not looked at: the caller waits the
  returned time and runs the batch's remaining tickets again.
    KEYS[1..6] product keys   KEYS[6 + i] hash of ticket ARGV[3 + i]
    ARGV[1] hold window (ms)  ARGV[2] terminal ticket TTL (s)  ARGV[3] '1': rate-limited
    ARGV[4..] ticket ids
  Returns {handled, waitMs, endedSoldOut, r_1, ..., r_handled}: the first `handled`
  tickets were dealt with, and waitMs > 0 when the rest wait for tokens. r_i is {status,
  requestId} where status is 'reserved', 'waiting', 'sold_out', 'rejected', any later
  status of an already-processed ticket, or 'missing'; when this call made the hold it is
  {'reserved', requestId, userId, qty, heldAtMs, paymentMethod} (what fulfilling it needs). endedSoldOut
  is 1 when this call ended a ticket sold out (the caller then sweeps the queue).
  Fairness: a ticket never takes units while an older ticket is parked.
  Returns {-1} when the product's state is not in Redis (it was lost): nothing is decided
  until the caller has rebuilt it.
]]
--- @include "product"

if not loaded() then return {-1} end

local holdMs, ttl, limited = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local now = nowMs()

local tokens, rate, cap, spent = math.huge, 0, 0, 0
if limited then
  local f = redis.call('HMGET', K_PRODUCT, 'rate', 'tb', 'tbAt')
  rate = tonumber(f[1] or '0') or 0
  if rate > 0 then
    cap = math.max(1, math.ceil(rate / 10))
    local saved, at = tonumber(f[2] or ''), tonumber(f[3] or '')
    tokens = cap
    if saved and at then tokens = math.min(cap, saved + math.max(0, now - at) * rate / 1000) end
  end
end

local out = {0, 0, 0}
local n = #ARGV - 3
for i = 1, n do
  local tkey, ticketId = KEYS[6 + i], ARGV[3 + i]
  local status, user, qty, seq, rid, pm = unpack(redis.call('HMGET', tkey, 'status', 'user', 'qty', 'seq', 'rid', 'pm'))
  local r
  rid = rid or ''
  if not status then
    r = {'missing', ''}
  elseif status ~= 'queued' then
    r = {status, rid}
  else
    if tokens < 1 then break end
    tokens = tokens - 1
    spent = spent + 1
    qty = tonumber(qty)
    local avail = pnum('available')
    if overLimit(user, qty) then
      finish(tkey, ticketId, 'rejected', 'per_user_limit', now, ttl)
      r = {'rejected', rid}
    elseif qty > avail + pnum('reserved') then
      finish(tkey, ticketId, 'sold_out', '', now, ttl)
      out[3] = 1
      r = {'sold_out', rid}
    elseif qty <= avail and redis.call('ZCOUNT', K_WAITING, '-inf', '(' .. seq) == 0 then
      hold(tkey, ticketId, user, qty, now, holdMs)
      r = {'reserved', rid, user, qty, now, pm or ''}
    else
      redis.call('ZADD', K_WAITING, seq, ticketId)
      r = {'waiting', rid}
    end
  end
  out[1] = i
  out[3 + i] = r
end

if spent > 0 then redis.call('HSET', K_PRODUCT, 'tb', tokens, 'tbAt', now) end
if out[1] < n then
  out[2] = math.max(1, math.ceil((math.min(n - out[1], cap) - tokens) * 1000 / rate))
end
return out
