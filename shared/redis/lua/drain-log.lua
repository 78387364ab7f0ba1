--[[
  The drain's two steps on a drop's log (docs/event-log.md).
    KEYS[1..8] product keys
    ARGV[1] 'refusals' -> the door's refusal counts since the last drain, taken (zeroed):
            {code, n, code, n, ...}
    ARGV[1] 'trim': ARGV[2] id of the last event MySQL now has -> events left in the log
  A drain reads the events (a plain XRANGE beside this script's 'refusals': inside a script
  Redis would turn the reply into Lua tables and back: most of what the read cost Redis),
  writes them to MySQL, then trims up to what MySQL has: a drain that dies in between
  leaves the events for the next (MySQL ignores rows it has).
]]
--- @include "product"

if ARGV[1] == 'trim' then
  local ms, n = string.match(ARGV[2], '^(%d+)-(%d+)$')
  redis.call('XTRIM', K_LOG, 'MINID', ms .. '-' .. (tonumber(n) + 1))
  return redis.call('XLEN', K_LOG)
end

local refusals = {}
for _, code in ipairs(REFUSAL_CODES) do
  local n = tonumber(redis.call('HGET', K_PRODUCT, 'r_' .. code) or '0')
  if n and n > 0 then
    redis.call('HINCRBY', K_PRODUCT, 'r_' .. code, -n)
    refusals[#refusals + 1] = code
    refusals[#refusals + 1] = n
  end
end
return refusals
