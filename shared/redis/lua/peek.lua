--[[
  What the janitor would find to do for a product (workers/janitor.ts), in one call: so a
  product with nothing live (a general product between orders, a drop long over) costs it
  this call a second instead of a repair's three and a drain's read.
    KEYS[1..8] product keys
    ARGV[1] holds due at or before this instant (ms) count as overdue
  Returns {queued tickets, overdue holds, events in the log, refusals not yet drained}.
]]
--- @include "product"

local fields = {}
for i, code in ipairs(REFUSAL_CODES) do fields[i] = 'r_' .. code end
local refusals = 0
for _, n in ipairs(redis.call('HMGET', K_PRODUCT, unpack(fields))) do
  refusals = refusals + (tonumber(n or '0') or 0)
end
return {
  redis.call('ZCARD', K_QUEUED),
  redis.call('ZCOUNT', K_HOLDS, '-inf', ARGV[1]),
  redis.call('XLEN', K_LOG),
  refusals,
}
