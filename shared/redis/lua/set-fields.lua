--[[
  Sets fields of a hash only while the hash has its guard field: a ticket's `status`, a
  product's `total`. A step that was on its way when Redis lost its data must not leave
  behind a hash of one field, which would pass for a ticket or a product.
    KEYS[1] the hash
    ARGV[1] guard field   ARGV[2..] field, value pairs
  Returns 1 when it set them, 0 when the hash (or its guard field) is gone.
]]
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
