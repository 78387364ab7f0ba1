--[[
  Shared by every product script. KEYS[1..8] are the product's keys in contract order:
    KEYS[1] product hash   KEYS[2] live    KEYS[3] held
    KEYS[4] queued zset    KEYS[5] waiting KEYS[6] holds
    KEYS[7] pending zset (queued, not yet looked at by the stock worker)
    KEYS[8] the drop's event log (a stream: docs/event-log.md)
  Ticket hashes live at <ticketPrefix><ticketId> under the same hash tag.
]]
local K_PRODUCT, K_LIVE, K_HELD, K_QUEUED, K_WAITING, K_HOLDS, K_PENDING, K_LOG =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]

-- The door's refusals, counted in the product hash as `r_<code>` until the drain takes them.
local REFUSAL_CODES = {'not_open', 'paused', 'sold_out', 'over_limit', 'busy', 'rate_limited'}

-- The product hash's counters (`available`, `reserved`, `sold`, `t_<status>`) and the log's
-- chain head (`evh`) go through pget/pincr/pput. By default each is a command of its own.
-- A script that moves many tickets in one call (reserve, settle, release) calls
-- deferProduct first: then each field is read from Redis once, changed in Lua, and the
-- changed ones are written back in one HSET by flushProduct, which such a script must call
-- before it returns after any change. Per ticket moved that is 4-6 fewer HINCRBYs and an
-- HGET and HSET of `evh` fewer, and as many fewer entries in the AOF and on replicas. The
-- script runs atomically, so reading and writing back later is the same as HINCRBY; only
-- fields read or written through these functions may be deferred.
local PF, PD = nil, nil

local function deferProduct(fields)
  PF, PD = {}, {}
  local v = redis.call('HMGET', K_PRODUCT, unpack(fields))
  for i, f in ipairs(fields) do PF[f] = v[i] end
end

local function pget(field)
  if not PF then return redis.call('HGET', K_PRODUCT, field) end
  local v = PF[field]
  if v == nil then
    v = redis.call('HGET', K_PRODUCT, field) or false
    PF[field] = v
  end
  return v or nil
end

local function pnum(field)
  return tonumber(pget(field) or '0') or 0
end

local function pput(field, value)
  if not PF then
    redis.call('HSET', K_PRODUCT, field, value)
    return
  end
  PF[field] = value
  PD[field] = true
end

local function pincr(field, n)
  if not PF then
    redis.call('HINCRBY', K_PRODUCT, field, n)
    return
  end
  pput(field, string.format('%d', pnum(field) + n))
end

local function flushProduct()
  if not PF then return end
  local w = {}
  for f in pairs(PD) do
    w[#w + 1] = f
    w[#w + 1] = PF[f]
  end
  if #w > 0 then redis.call('HSET', K_PRODUCT, unpack(w)) end
  PD = {}
end

-- A product is loaded when its hash has its total: a hash holding only a stray field
-- (written after Redis lost the product) does not count.
local function loaded()
  if PF then return pget('total') ~= nil end
  return redis.call('HEXISTS', K_PRODUCT, 'total') == 1
end

local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Appends one decision to the drop's log, continuing its hash chain (docs/event-log.md).
-- s (a ticket's order key) is passed as the string it was stored as, never re-formatted.
-- appendEvent takes the chain's last hash and returns the new one without storing it: a
-- caller that has read `evh` already stores it with its own writes (admit.lua).
local function appendEvent(prev, e, t, u, q, s, x)
  t, u, q, s, x = t or '', u or '', tostring(q or 0), s or '', x or ''
  local h = redis.sha1hex(prev .. '\n' .. e .. '\n' .. t .. '\n' .. u .. '\n' .. q .. '\n' .. s .. '\n' .. x)
  redis.call('XADD', K_LOG, '*', 'e', e, 't', t, 'u', u, 'q', q, 's', s, 'x', x, 'h', h)
  return h
end

local function logEvent(e, t, u, q, s, x)
  pput('evh', appendEvent(pget('evh') or '', e, t, u, q, s, x))
end

-- Moves a ticket from its current status to a terminal one, keeping counters in step.
local function finish(ticketKey, ticketId, status, reason, now, ttl)
  local old, user, qty, seq = unpack(redis.call('HMGET', ticketKey, 'status', 'user', 'qty', 'seq'))
  redis.call('HSET', ticketKey, 'status', status, 'updated', now)
  if reason ~= nil and reason ~= '' then redis.call('HSET', ticketKey, 'reason', reason) end
  if old then pincr('t_' .. old, -1) end
  pincr('t_' .. status, 1)
  if user and redis.call('HGET', K_LIVE, user) == ticketId then redis.call('HDEL', K_LIVE, user) end
  redis.call('ZREM', K_QUEUED, ticketId)
  redis.call('ZREM', K_WAITING, ticketId)
  redis.call('ZREM', K_HOLDS, ticketId)
  redis.call('ZREM', K_PENDING, ticketId)
  redis.call('EXPIRE', ticketKey, ttl)
  logEvent(status, ticketId, user, qty, seq, reason)
end

-- True when taking qty more units would put the user over the product's limit.
local function overLimit(user, qty)
  local limit = pnum('limit')
  if limit <= 0 then return false end
  local held = tonumber(redis.call('HGET', K_HELD, user) or '0')
  return held + qty > limit
end

-- Holds qty units for a queued ticket: available -> reserved, deadline in the holds set;
-- logged as `event` ('reserved' from the queue, 'promoted' from the parked tickets).
local function hold(ticketKey, ticketId, user, qty, now, holdMs, event, seq)
  pincr('available', -qty)
  pincr('reserved', qty)
  redis.call('HINCRBY', K_HELD, user, qty)
  pincr('t_queued', -1)
  pincr('t_reserved', 1)
  redis.call('HSET', ticketKey, 'status', 'reserved', 'resAt', now, 'updated', now)
  redis.call('ZREM', K_QUEUED, ticketId)
  redis.call('ZREM', K_WAITING, ticketId)
  redis.call('ZREM', K_PENDING, ticketId)
  redis.call('ZADD', K_HOLDS, now + holdMs, ticketId)
  logEvent(event, ticketId, user, qty, seq)
end

-- Gives waiting tickets, oldest first, the units that are available now. A head that
-- can never be served (more than available + reserved) ends sold_out; one over the
-- per-user limit ends rejected. Returns the ids of the tickets that got a hold.
local function promote(prefix, now, holdMs, ttl, max)
  local promoted = {}
  for _ = 1, max do
    local head = redis.call('ZRANGE', K_WAITING, 0, 0)[1]
    if not head then break end
    local tkey = prefix .. head
    local user, qty, seq = unpack(redis.call('HMGET', tkey, 'user', 'qty', 'seq'))
    qty = tonumber(qty)
    if not qty then
      redis.call('ZREM', K_WAITING, head)
      redis.call('ZREM', K_QUEUED, head)
      redis.call('ZREM', K_PENDING, head)
    else
      local avail = pnum('available')
      if qty > avail + pnum('reserved') then
        finish(tkey, head, 'sold_out', '', now, ttl)
      elseif overLimit(user, qty) then
        finish(tkey, head, 'rejected', 'per_user_limit', now, ttl)
      elseif qty <= avail then
        hold(tkey, head, user, qty, now, holdMs, 'promoted', seq)
        promoted[#promoted + 1] = head
      else
        break
      end
    end
  end
  return promoted
end

-- When nothing is available and nothing is held, no unit can come back: queued
-- tickets end sold_out, oldest first, at most max per call. Returns how many remain.
local function sweepSoldOut(prefix, now, ttl, max)
  -- A product Redis lost has no stock to read: nothing may end sold out until it is rebuilt.
  if not loaded() then return 0 end
  if pnum('available') + pnum('reserved') > 0 then return 0 end
  local ids = redis.call('ZRANGE', K_QUEUED, 0, max - 1)
  for _, id in ipairs(ids) do
    finish(prefix .. id, id, 'sold_out', '', now, ttl)
  end
  return redis.call('ZCARD', K_QUEUED)
end
