--[[
  The simulated provider's charge, in one call as a real provider's is one request: counts
  the call, then answers as the provider would. A key whose charge was refunded stays
  refunded (a decline, never a second sale); a charge is taken once per key.
    KEYS[1] calls (key -> count)   KEYS[2] refunds   KEYS[3] charges (key -> "ref:amount")
    ARGV[1] idempotency key   ARGV[2] 'declined' | 'flaky' | 'transient' | ''
    ARGV[3] calls a flaky card fails   ARGV[4] a fresh charge ("ref:amount")
  Returns {calls, answer, charge}: answer 'refunded', 'declined', 'transient' or 'charged'
  (charge: the key's charge, this call's or an earlier one's).
]]
local key, mode = ARGV[1], ARGV[2]
local calls = redis.call('HINCRBY', KEYS[1], key, 1)
if redis.call('HEXISTS', KEYS[2], key) == 1 then return {calls, 'refunded', false} end
if mode == 'declined' then return {calls, 'declined', false} end
if mode == 'transient' or (mode == 'flaky' and calls <= tonumber(ARGV[3])) then return {calls, 'transient', false} end
redis.call('HSETNX', KEYS[3], key, ARGV[4])
return {calls, 'charged', redis.call('HGET', KEYS[3], key)}
