--[[
  An operator's change to a live product: total stock, opening instant, per-user limit.
  Stock can grow (new units go to parked tickets first) or shrink down to what is
  already sold or held, never below.
    KEYS[1..8] product keys
    ARGV[1] new total or ''  ARGV[2] opensAt ms ('-1' for none) or ''
    ARGV[3] perUserLimit or ''  ARGV[4] ticket prefix  ARGV[5] terminal TTL (s)
    ARGV[6] hold (ms)  ARGV[7] batch size  ARGV[8] queueOpensAt ms ('-1' for none) or ''
  Returns {outcome, promotedIds, remainingQueuedToSweep}, the shape of every script that
  frees units: outcome 'ok', 'not_loaded', or 'below_committed' with sold + reserved as a
  fourth element.
]]
--- @include "product"

if not loaded() then return {'not_loaded', {}, 0} end
if ARGV[1] ~= '' then
  local total = tonumber(ARGV[1])
  local committed = pnum('sold') + pnum('reserved')
  if total < committed then return {'below_committed', {}, 0, committed} end
  if total ~= pnum('total') then logEvent('stock', '', '', total, '', '') end
  redis.call('HSET', K_PRODUCT, 'total', total, 'available', total - committed)
end
-- Only a change is logged: the same change twice leaves the same state.
if ARGV[2] ~= '' and redis.call('HGET', K_PRODUCT, 'opensAt') ~= ARGV[2] then
  redis.call('HSET', K_PRODUCT, 'opensAt', ARGV[2])
  logEvent('opens', '', '', 0, '', ARGV[2])
end
if ARGV[8] and ARGV[8] ~= '' and redis.call('HGET', K_PRODUCT, 'qOpensAt') ~= ARGV[8] then
  redis.call('HSET', K_PRODUCT, 'qOpensAt', ARGV[8])
  logEvent('queue_opens', '', '', 0, '', ARGV[8])
end
if ARGV[3] ~= '' then redis.call('HSET', K_PRODUCT, 'limit', ARGV[3]) end
local now, ttl, batch = nowMs(), tonumber(ARGV[5]), tonumber(ARGV[7])
local promoted = promote(ARGV[4], now, tonumber(ARGV[6]), ttl, batch)
return {'ok', promoted, sweepSoldOut(ARGV[4], now, ttl, batch)}
