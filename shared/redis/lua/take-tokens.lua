--[[
  A token bucket every process shares: takes up to ARGV[2] tokens at ARGV[1] per second,
  with at most 100 ms of them (at least one) saved up; a new bucket starts full.
    KEYS[1] the bucket (hash: tokens, at)
    ARGV[1] rate per second   ARGV[2] tokens wanted
  Returns {granted, waitMs}: waitMs > 0 when fewer than wanted were granted, until the
  next token comes.
]]
--- @include "token-bucket"

local rate = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = bucketLevel(rate, tonumber(saved[1] or ''), tonumber(saved[2] or ''), now)
local granted = math.max(0, math.min(want, math.floor(tokens)))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], 60000)
local waitMs = 0
if granted < want then waitMs = math.max(1, math.ceil((1 - tokens) * 1000 / rate)) end
return {granted, waitMs}
