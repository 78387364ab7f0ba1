--[[
  Admits a batch of purchase requests for one product at the door, in order, or says why
  not, each. One round trip, no MySQL. The API sends the requests of one event-loop turn
  together (AdmitCoalescer): what a script call costs Redis besides its commands (reading
  and parsing the call, running Lua, writing the reply) and the product's fields are paid
  once per batch instead of once per ticket. Each request is decided as if alone, after
  the ones before it in the batch.
    KEYS[1..8] product keys (see includes/product.lua)
    then per request i (b = 8 + 3 * (i - 1)):
      KEYS[b+1] the new ticket's hash   KEYS[b+2] idempotency key (or a never-set key)
      KEYS[b+3] the user's rate-limit counter
    ARGV[1] user requests per second  ARGV[2] max queued tickets  ARGV[3] idempotency TTL (s)
    then per request i (a = 3 + 8 * (i - 1)):
      ARGV[a+1] ticketId  ARGV[a+2] userId  ARGV[a+3] quantity  ARGV[a+4] paymentMethod
      ARGV[a+5] Idempotency-Key or ''  ARGV[a+6] requestId
      ARGV[a+7] id of the admission job (batch) the API will add the ticket to, or ''
      ARGV[a+8] the ticket's lottery order key (a negative integer, see docs/event-log.md),
               or '' when the product has no pre-queue
  Returns one answer per request, in order, each one of:
    {'created', ticketId, position, ratePerSecond, measuredPerSecond, drawAtMs, preQueued, nowMs}
        (position -1 and drawAtMs = opensAt for a pre-queued ticket, drawAtMs -1 otherwise)
    {'existing', ticketId}   {'not_loaded'}
    {'not_open', opensAtMs, nowMs, queueOpensAtMs}    {'paused'}   {'sold_out'}   {'busy'}
    {'over_limit', perUserLimit, held}   {'rate_limited', retryAfterMs}
  The decision "is it open" (and "is the pre-queue open") uses Redis TIME: one clock for
  every API process. Each refusal is counted in the product hash (`r_<code>`) for the log.
]]
--- @include "product"

local n = (#ARGV - 3) / 8
-- One read of the product's fields, the loaded check's `total` included; the product's
-- writes go back in one HSET at the end (the script runs atomically, so read-then-write
-- is safe, and the requests of the batch see each other's writes through these locals).
local f = redis.call('HMGET', K_PRODUCT, 'total', 'opensAt', 'paused', 'available', 'reserved', 'limit', 't_queued',
  'rate', 'qOpensAt', 'mr', 'seq', 'preN', 'evh')
if not f[1] then
  local answers = {}
  for i = 1, n do answers[i] = {'not_loaded'} end
  return answers
end
local function field(i) return tonumber(f[i] or '0') or 0 end

local ratePerSec, maxQueued, idemTtl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now = nowMs()
local opensAt, qOpensAt = field(2), tonumber(f[9] or '-1') or -1
local paused, stock, limit = field(3) == 1, field(4) + field(5), field(6)
local queued, seq, preN, evh = field(7), field(11), field(12), f[13] or ''
local created, refused = 0, {}

local function refuse(code, ...)
  refused[code] = (refused[code] or 0) + 1
  return {code, ...}
end

local function decide(k, a)
  local ticketKey, idemKey, rateKey = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local ticketId, user, qty, pm = ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3]), ARGV[a + 4]
  local idem, rid, job, lottery = ARGV[a + 5], ARGV[a + 6], ARGV[a + 7], ARGV[a + 8]

  if idem ~= '' then
    local existing = redis.call('GET', idemKey)
    if existing then return {'existing', existing} end
  end
  local live = redis.call('HGET', K_LIVE, user)
  if live then
    if idem ~= '' then redis.call('SET', idemKey, live, 'EX', idemTtl) end
    return {'existing', live}
  end

  -- The buyer's requests this second: a first one starts the counter with its expiry.
  local count = 1
  if not redis.call('SET', rateKey, 1, 'PX', 1000, 'NX') then count = redis.call('INCR', rateKey) end
  if count > ratePerSec then
    return refuse('rate_limited', math.max(redis.call('PTTL', rateKey), 1))
  end

  local pre = false
  if opensAt > now then
    -- Before the opening instant only the pre-queue admits, and only with a lottery key.
    if qOpensAt < 0 or qOpensAt > now or lottery == '' then return refuse('not_open', opensAt, now, qOpensAt) end
    pre = true
  end
  if paused then return refuse('paused') end
  if qty > stock then return refuse('sold_out') end
  if limit > 0 then
    local held = tonumber(redis.call('HGET', K_HELD, user) or '0')
    if held + qty > limit then return refuse('over_limit', limit, held) end
  end
  if queued >= maxQueued then return refuse('busy') end

  local key
  if pre then
    preN = preN + 1
    key = lottery
  else
    seq = seq + 1
    key = string.format('%d', seq)
  end
  local fields = {'user', user, 'qty', qty, 'pm', pm, 'status', 'queued', 'seq', key, 'created', now, 'rid', rid}
  -- The janitor looks the job up by this id to find tickets whose job never made it.
  if job ~= '' then
    fields[#fields + 1] = 'job'
    fields[#fields + 1] = job
  end
  redis.call('HSET', ticketKey, unpack(fields))
  if idem ~= '' then redis.call('SET', idemKey, ticketId, 'EX', idemTtl) end
  redis.call('ZADD', K_QUEUED, key, ticketId)
  redis.call('ZADD', K_PENDING, key, ticketId)
  redis.call('HSET', K_LIVE, user, ticketId)
  evh = appendEvent(evh, 'admitted', ticketId, user, qty, key, pm)
  queued = queued + 1
  created = created + 1
  if pre then
    return {'created', ticketId, -1, field(8), f[10] or '0', opensAt, redis.call('ZCOUNT', K_QUEUED, '-inf', '(0'), now}
  end
  return {'created', ticketId, redis.call('ZCARD', K_QUEUED) - 1, field(8), f[10] or '0', -1, 0, now}
end

local answers = {}
for i = 1, n do answers[i] = decide(8 + 3 * (i - 1), 3 + 8 * (i - 1)) end

local writes = {}
if created > 0 then
  writes = {'t_queued', string.format('%d', queued), 'evh', evh}
  if seq ~= field(11) then writes[#writes + 1] = 'seq'; writes[#writes + 1] = string.format('%d', seq) end
  if preN ~= field(12) then writes[#writes + 1] = 'preN'; writes[#writes + 1] = string.format('%d', preN) end
end
for code, count in pairs(refused) do
  -- HINCRBY, not a write of the read value: refusal counts are taken (reset) by the drain.
  redis.call('HINCRBY', K_PRODUCT, 'r_' .. code, count)
end
if #writes > 0 then redis.call('HSET', K_PRODUCT, unpack(writes)) end
return answers
