--[[
  Appends one event that no other script writes (a refund, a status the ledger settled
  after Redis lost it) to the drop's log, continuing its chain.
    KEYS[1..8] product keys
    ARGV[1] type  ARGV[2] ticketId  ARGV[3] userId  ARGV[4] qty  ARGV[5] order key  ARGV[6] extra
  Returns 1, or 0 when the product is not loaded (nothing is written).
]]
--- @include "product"

if not loaded() then return 0 end
logEvent(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
return 1
