--[[
  Records the orders of tickets handed on together, and their payment job, onto each
  ticket only while it exists (its `status`): a step that was on its way when Redis lost
  its data must not leave behind a hash of two fields, which would pass for a ticket.
    KEYS[1..n] the tickets' hashes (one product's: one slot)
    ARGV[1] payment job id   ARGV[1 + i] the order id of KEYS[i]
  Returns, for each ticket, 1 when it was set, 0 when the ticket is gone.
]]
local set = {}
for i, key in ipairs(KEYS) do
  if redis.call('HEXISTS', key, 'status') == 1 then
    redis.call('HSET', key, 'order', ARGV[1 + i], 'pay', ARGV[1])
    set[i] = 1
  else
    set[i] = 0
  end
end
return set
