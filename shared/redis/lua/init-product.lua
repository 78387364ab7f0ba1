--[[
  Loads a product's live state into Redis unless it is already there (first use, or a
  rebuild from the MySQL ledger after Redis lost its data).
    KEYS[1..8] product keys
    ARGV[1] the `loaded` event's JSON  ARGV[2] the hash of the drop's last logged event
    that MySQL has ('' for a new drop): the log's chain continues from it
    ARGV[3] n, then n field/value pairs for the product hash, then userId/units pairs
    for the held hash.
  Returns 1 when it loaded the state, 0 when the state was already present. A product
  hash without its total (a stray field written after Redis lost the product) is replaced.
]]
--- @include "product"

if loaded() then return 0 end
redis.call('DEL', K_PRODUCT, K_HELD, K_PENDING)
local n = tonumber(ARGV[3])
for i = 4, 2 * n + 2, 2 do
  redis.call('HSET', K_PRODUCT, ARGV[i], ARGV[i + 1])
end
for i = 2 * n + 4, #ARGV, 2 do
  redis.call('HSET', K_HELD, ARGV[i], ARGV[i + 1])
end
redis.call('HSET', K_PRODUCT, 'evh', ARGV[2])
logEvent('loaded', '', '', pnum('total'), '', ARGV[1])
return 1
