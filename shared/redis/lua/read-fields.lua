--[[
  Reads fields of a product's hash together with the clock of the shard that holds it:
  on a Redis Cluster each drop's "is it open" is decided by its own shard's TIME (see
  admit.lua), so the time shown with its state comes from the same clock.
    KEYS[1] product hash
    ARGV[1..] field names (none: only the clock)
  Returns {seconds, microseconds, value_1, ..., value_n} (a missing field is false/nil).
]]
local t = redis.call('TIME')
local values = #ARGV > 0 and redis.call('HMGET', KEYS[1], unpack(ARGV)) or {}
local out = {t[1], t[2]}
for i = 1, #ARGV do out[#out + 1] = values[i] end
return out
