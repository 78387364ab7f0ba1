--[[
  The stock worker's step: takes tickets from the head of the product's pending queue (the
  lottery's order for the pre-queue, arrival order after it) until none of the tickets of
  the caller's admission job is pending any more, or `max` tickets were taken in this call.
  Each gets a hold on its units, is parked until held units come back, or ends. Whatever
  job asks, units go in queue order: a job is only the trigger, and its tickets the point
  where it may stop. Idempotent: a ticket that is no longer pending is not looked at again.
  Nothing is taken before `opensAt` (the pre-queue waits for the draw), nor while a
  rebuild is under way (`rebuildUntil`, the shard's clock).
  Admission rate: when ARGV[3] is '1', every ticket taken uses a token of the product's
  bucket (`rate` tickets per second, at most 100 ms of them saved up); without tokens the
  call stops and says how long to wait.
  Measured rate: while tickets are left pending the product's `mr` is the rate at which
  they were taken (tickets/s, over windows of at least 2 s): the ETA uses it.
    KEYS[1..8] product keys
    ARGV[1] hold window (ms)  ARGV[2] terminal ticket TTL (s)  ARGV[3] '1': rate-limited
    ARGV[4] ticket prefix  ARGV[5] most tickets to take in this call  ARGV[6..] the job's ticket ids
  Returns {jobLeft, waitMs, endedSoldOut, n, r_1, ..., r_n, s_1, ..., s_m}: jobLeft of the
  job's tickets are still pending, waitMs > 0 when the caller must wait (no tokens, or
  not open yet); r_i is {ticketId, status, requestId} for each ticket taken, status
  'reserved', 'waiting', 'sold_out', 'rejected' or 'missing'; a new hold is {ticketId,
  'reserved', requestId, userId, qty, heldAtMs, paymentMethod} (what fulfilling it needs);
  s_j is the status of the job's j-th ticket after the call ('waiting' when parked,
  'missing' when it has none).
  endedSoldOut is 1 when this call ended a ticket sold out (the caller then sweeps).
  Returns {-1} when the product's state is not in Redis (it was lost): nothing is decided
  until the caller has rebuilt it.
]]
--- @include "product"
--- @include "token-bucket"

deferProduct({'total', 'available', 'reserved', 'limit', 't_queued', 't_reserved', 'evh'})
if not loaded() then return {-1} end

local holdMs, ttl, limited = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local prefix, max = ARGV[4], tonumber(ARGV[5])
local now = nowMs()

-- The job's tickets still pending.
local job, left = {}, 0
for i = 6, #ARGV do
  if not job[ARGV[i]] and redis.call('ZSCORE', K_PENDING, ARGV[i]) then
    job[ARGV[i]] = true
    left = left + 1
  end
end

local function statuses(out)
  for i = 6, #ARGV do
    local status = redis.call('HGET', prefix .. ARGV[i], 'status') or 'missing'
    if status == 'queued' and redis.call('ZSCORE', K_WAITING, ARGV[i]) then status = 'waiting' end
    out[#out + 1] = status
  end
  return out
end

-- Both gates in one read: before the opening instant, and while a rebuild is under way.
local gates = redis.call('HMGET', K_PRODUCT, 'opensAt', 'rebuildUntil')
local opensAt, rebuilding = tonumber(gates[1] or '0') or 0, tonumber(gates[2] or '0') or 0
if opensAt > now then
  return statuses({left, math.min(1000, opensAt - now), 0, 0})
end
-- A rebuild (Redis lost the drop) is putting the tickets it had back in their old places:
-- nothing is taken until it is done, or past its deadline if the process doing it died.
if rebuilding > now then
  return statuses({left, math.min(100, rebuilding - now), 0, 0})
end

local tokens, rate, cap, spent = math.huge, 0, 0, 0
if limited then
  local f = redis.call('HMGET', K_PRODUCT, 'rate', 'tb', 'tbAt')
  rate = tonumber(f[1] or '0') or 0
  if rate > 0 then tokens, cap = bucketLevel(rate, tonumber(f[2] or ''), tonumber(f[3] or ''), now) end
end

local taken, endedSoldOut, waitMs = {}, 0, 0
while left > 0 and #taken < max do
  if tokens < 1 then
    -- Wait for as many tokens as the job can use at once (at most the bucket's size).
    waitMs = math.max(1, math.ceil((math.min(cap, left) - tokens) * 1000 / rate))
    break
  end
  local ticketId = redis.call('ZRANGE', K_PENDING, 0, 0)[1]
  if not ticketId then break end
  local tkey = prefix .. ticketId
  local status, user, qty, seq, rid, pm = unpack(redis.call('HMGET', tkey, 'status', 'user', 'qty', 'seq', 'rid', 'pm'))
  rid = rid or ''
  local r
  if status ~= 'queued' then
    -- Gone from Redis, or decided elsewhere: only its place in the pending queue was left.
    redis.call('ZREM', K_PENDING, ticketId)
    r = {ticketId, status or 'missing', rid}
  else
    tokens = tokens - 1
    spent = spent + 1
    qty = tonumber(qty)
    local avail = pnum('available')
    if overLimit(user, qty) then
      finish(tkey, ticketId, 'rejected', 'per_user_limit', now, ttl)
      r = {ticketId, 'rejected', rid}
    elseif qty > avail + pnum('reserved') then
      finish(tkey, ticketId, 'sold_out', '', now, ttl)
      endedSoldOut = 1
      r = {ticketId, 'sold_out', rid}
    elseif qty <= avail and redis.call('ZCARD', K_WAITING) == 0 then
      hold(tkey, ticketId, user, qty, now, holdMs, 'reserved', seq)
      r = {ticketId, 'reserved', rid, user, qty, now, pm or ''}
    else
      redis.call('ZREM', K_PENDING, ticketId)
      redis.call('ZADD', K_WAITING, seq, ticketId)
      logEvent('parked', ticketId, user, qty, seq)
      r = {ticketId, 'waiting', rid}
    end
  end
  taken[#taken + 1] = r
  if job[ticketId] then left = left - 1 end
end

if spent > 0 then
  redis.call('HSET', K_PRODUCT, 'tb', tokens, 'tbAt', now)
  -- The measured admission rate: tickets taken per second while some stayed pending.
  local m = redis.call('HMGET', K_PRODUCT, 'mrAt', 'mrN', 'mr')
  local at, n = tonumber(m[1] or ''), (tonumber(m[2] or '0') or 0) + spent
  if not at or redis.call('ZCARD', K_PENDING) == 0 then
    redis.call('HSET', K_PRODUCT, 'mrAt', now, 'mrN', 0)
  elseif now - at >= 2000 then
    local measured = n * 1000 / (now - at)
    local before = tonumber(m[3] or '')
    if before then measured = (before + measured) / 2 end
    redis.call('HSET', K_PRODUCT, 'mr', string.format('%.3f', measured), 'mrAt', now, 'mrN', 0)
  else
    redis.call('HSET', K_PRODUCT, 'mrN', n)
  end
end

flushProduct()
local out = {left, waitMs, endedSoldOut, #taken}
for _, r in ipairs(taken) do out[#out + 1] = r end
return statuses(out)
