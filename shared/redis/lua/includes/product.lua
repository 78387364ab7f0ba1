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

-- A product is loaded when its hash has its total: a hash holding only a stray field
-- (written after Redis lost the product) does not count.
local function loaded()
  return redis.call('HEXISTS', K_PRODUCT, 'total') == 1
end

local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function pnum(field)
  return tonumber(redis.call('HGET', K_PRODUCT, field) or '0') or 0
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
  redis.call('HSET', K_PRODUCT, 'evh', appendEvent(redis.call('HGET', K_PRODUCT, 'evh') or '', e, t, u, q, s, x))
end

-- Moves a ticket from its current status to a terminal one, keeping counters in step.
local function finish(ticketKey, ticketId, status, reason, now, ttl)
  local old, user, qty, seq = unpack(redis.call('HMGET', ticketKey, 'status', 'user', 'qty', 'seq'))
  redis.call('HSET', ticketKey, 'status', status, 'updated', now)
  if reason ~= nil and reason ~= '' then redis.call('HSET', ticketKey, 'reason', reason) end
  if old then redis.call('HINCRBY', K_PRODUCT, 't_' .. old, -1) end
  redis.call('HINCRBY', K_PRODUCT, 't_' .. status, 1)
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
  redis.call('HINCRBY', K_PRODUCT, 'available', -qty)
  redis.call('HINCRBY', K_PRODUCT, 'reserved', qty)
  redis.call('HINCRBY', K_HELD, user, qty)
  redis.call('HINCRBY', K_PRODUCT, 't_queued', -1)
  redis.call('HINCRBY', K_PRODUCT, 't_reserved', 1)
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
