--[[
  Admits one purchase request at the door, or says why not. One round trip, no MySQL.
    KEYS[1..6] product keys (see includes/product.lua)
    KEYS[7] the new ticket's hash   KEYS[8] idempotency key (or a never-set key)
    KEYS[9] the user's rate-limit counter
    ARGV[1] ticketId  ARGV[2] userId  ARGV[3] quantity  ARGV[4] paymentMethod
    ARGV[5] Idempotency-Key or ''  ARGV[6] requestId  ARGV[7] user requests per second
    ARGV[8] max queued tickets  ARGV[9] idempotency TTL (s)
    ARGV[10] id of the admission job (batch) the API will add the ticket to, or ''
  Returns one of:
    {'created', ticketId, position, ratePerSecond}   {'existing', ticketId}   {'not_loaded'}
    {'not_open', opensAtMs, nowMs}    {'paused'}   {'sold_out'}   {'busy'}
    {'over_limit', perUserLimit, held}   {'rate_limited', retryAfterMs}
  The decision "is it open" uses Redis TIME: one clock for every API process.
]]
--- @include "product"

if not loaded() then return {'not_loaded'} end

local ticketId, user, qty = ARGV[1], ARGV[2], tonumber(ARGV[3])
local idem = ARGV[5]

if idem ~= '' then
  local existing = redis.call('GET', KEYS[8])
  if existing then return {'existing', existing} end
end
local live = redis.call('HGET', K_LIVE, user)
if live then
  if idem ~= '' then redis.call('SET', KEYS[8], live, 'EX', tonumber(ARGV[9])) end
  return {'existing', live}
end

local count = redis.call('INCR', KEYS[9])
if count == 1 then redis.call('PEXPIRE', KEYS[9], 1000) end
if count > tonumber(ARGV[7]) then
  return {'rate_limited', math.max(redis.call('PTTL', KEYS[9]), 1)}
end

-- One read of the product's fields instead of one per field.
local f = redis.call('HMGET', K_PRODUCT, 'opensAt', 'paused', 'available', 'reserved', 'limit', 't_queued', 'rate')
local function field(i) return tonumber(f[i] or '0') or 0 end

local now = nowMs()
local opensAt = field(1)
if opensAt > now then return {'not_open', opensAt, now} end
if field(2) == 1 then return {'paused'} end
if qty > field(3) + field(4) then return {'sold_out'} end

local limit = field(5)
local held = tonumber(redis.call('HGET', K_HELD, user) or '0')
if limit > 0 and held + qty > limit then return {'over_limit', limit, held} end
if field(6) >= tonumber(ARGV[8]) then return {'busy'} end

local seq = redis.call('HINCRBY', K_PRODUCT, 'seq', 1)
local fields = {'user', user, 'qty', qty, 'pm', ARGV[4], 'status', 'queued', 'seq', seq, 'created', now, 'rid', ARGV[6]}
-- The janitor looks the job up by this id to find tickets whose job never made it.
if ARGV[10] and ARGV[10] ~= '' then
  fields[#fields + 1] = 'job'
  fields[#fields + 1] = ARGV[10]
end
redis.call('HSET', KEYS[7], unpack(fields))
if idem ~= '' then
  redis.call('SET', KEYS[8], ticketId, 'EX', tonumber(ARGV[9]))
end
redis.call('ZADD', K_QUEUED, seq, ticketId)
redis.call('HSET', K_LIVE, user, ticketId)
redis.call('HINCRBY', K_PRODUCT, 't_queued', 1)
return {'created', ticketId, redis.call('ZCARD', K_QUEUED) - 1, field(7)}
