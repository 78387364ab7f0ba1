--[[
  Ends queued tickets sold_out once no unit can come back (nothing available, nothing
  held), at most ARGV[3] per call; callers repeat while the result is above zero.
    KEYS[1..8] product keys
    ARGV[1] ticket prefix  ARGV[2] terminal TTL (s)  ARGV[3] batch size
  Returns the number of queued tickets left (0 when stock can still come back).
]]
--- @include "product"

return sweepSoldOut(ARGV[1], nowMs(), tonumber(ARGV[2]), tonumber(ARGV[3]))
