--[[
  Admits one purchase request at the door, or says why not. One round trip, no MySQL.
    KEYS[1..8] product keys (see includes/product.lua)
    KEYS[9] the new ticket's hash   KEYS[10] idempotency key (or a never-set key)
    KEYS[11] the user's rate-limit counter
    ARGV[1] ticketId  ARGV[2] userId  ARGV[3] quantity  ARGV[4] paymentMethod
    ARGV[5] Idempotency-Key or ''  ARGV[6] requestId  ARGV[7] user requests per second
    ARGV[8] max queued tickets  ARGV[9] idempotency TTL (s)
    ARGV[10] id of the admission job (batch) the API will add the ticket to, or ''
    ARGV[11] the ticket's lottery order key (a negative integer, see docs/event-log.md),
             or '' when the product has no pre-queue
  Returns one of:
    {'created', ticketId, position, ratePerSecond, measuredPerSecond, drawAtMs, preQueued, nowMs}
        (position -1 and drawAtMs = opensAt for a pre-queued ticket, drawAtMs -1 otherwise)
    {'existing', ticketId}   {'not_loaded'}
    {'not_open', opensAtMs, nowMs, queueOpensAtMs}    {'paused'}   {'sold_out'}   {'busy'}
    {'over_limit', perUserLimit, held}   {'rate_limited', retryAfterMs}
  The decision "is it open" (and "is the pre-queue open") uses Redis TIME: one clock for
  every API process. Each refusal is counted in the product hash (`r_<code>`) for the log.
]]
--- @include "product"

-- One read of the product's fields, the loaded check's `total` included; the product's
-- writes below go back in one HSET (the script runs atomically, so read-then-write is safe).
local f = redis.call('HMGET', K_PRODUCT, 'total', 'opensAt', 'paused', 'available', 'reserved', 'limit', 't_queued',
  'rate', 'qOpensAt', 'mr', 'seq', 'preN', 'evh')
if not f[1] then return {'not_loaded'} end
local function field(i) return tonumber(f[i] or '0') or 0 end

local ticketId, user, qty = ARGV[1], ARGV[2], tonumber(ARGV[3])
local idem = ARGV[5]

local function refuse(code, ...)
  redis.call('HINCRBY', K_PRODUCT, 'r_' .. code, 1)
  return {code, ...}
end

if idem ~= '' then
  local existing = redis.call('GET', KEYS[10])
  if existing then return {'existing', existing} end
end
local live = redis.call('HGET', K_LIVE, user)
if live then
  if idem ~= '' then redis.call('SET', KEYS[10], live, 'EX', tonumber(ARGV[9])) end
  return {'existing', live}
end

-- The buyer's requests this second: a first one starts the counter with its expiry.
local count = 1
if not redis.call('SET', KEYS[11], 1, 'PX', 1000, 'NX') then count = redis.call('INCR', KEYS[11]) end
if count > tonumber(ARGV[7]) then
  return refuse('rate_limited', math.max(redis.call('PTTL', KEYS[11]), 1))
end

local now = nowMs()
local opensAt, qOpensAt = field(2), tonumber(f[9] or '-1') or -1
local pre = false
if opensAt > now then
  -- Before the opening instant only the pre-queue admits, and only with a lottery key.
  if qOpensAt < 0 or qOpensAt > now or ARGV[11] == '' then return refuse('not_open', opensAt, now, qOpensAt) end
  pre = true
end
if field(3) == 1 then return refuse('paused') end
if qty > field(4) + field(5) then return refuse('sold_out') end

local limit = field(6)
if limit > 0 then
  local held = tonumber(redis.call('HGET', K_HELD, user) or '0')
  if held + qty > limit then return refuse('over_limit', limit, held) end
end
if field(7) >= tonumber(ARGV[8]) then return refuse('busy') end

local seq, counter, n
if pre then
  seq, counter, n = ARGV[11], 'preN', field(12) + 1
else
  n = field(11) + 1
  seq, counter = string.format('%d', n), 'seq'
end
local fields = {'user', user, 'qty', qty, 'pm', ARGV[4], 'status', 'queued', 'seq', seq, 'created', now, 'rid', ARGV[6]}
-- The janitor looks the job up by this id to find tickets whose job never made it.
if ARGV[10] and ARGV[10] ~= '' then
  fields[#fields + 1] = 'job'
  fields[#fields + 1] = ARGV[10]
end
redis.call('HSET', KEYS[9], unpack(fields))
if idem ~= '' then
  redis.call('SET', KEYS[10], ticketId, 'EX', tonumber(ARGV[9]))
end
redis.call('ZADD', K_QUEUED, seq, ticketId)
redis.call('ZADD', K_PENDING, seq, ticketId)
redis.call('HSET', K_LIVE, user, ticketId)
local h = appendEvent(f[13] or '', 'admitted', ticketId, user, qty, seq, ARGV[4])
redis.call('HSET', K_PRODUCT, counter, string.format('%d', n), 't_queued', string.format('%d', field(7) + 1), 'evh', h)
if pre then
  return {'created', ticketId, -1, field(8), f[10] or '0', opensAt, redis.call('ZCOUNT', K_QUEUED, '-inf', '(0'), now}
end
return {'created', ticketId, redis.call('ZCARD', K_QUEUED) - 1, field(8), f[10] or '0', -1, 0, now}
