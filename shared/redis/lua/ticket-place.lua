--[[
  A ticket as its owner polls it, with what its place and wait are computed from, in one
  call: one script instead of a pipeline of five commands (an ioredis pipeline copies every
  script defined on the connection into a new object per call: the client spent 2.5 times
  this call's CPU on it, bench/ticket-read.ts).
    KEYS[1] ticket hash   KEYS[2] queued zset   KEYS[3] product hash
    ARGV[1] ticketId
  Returns {ticket fields (HGETALL, flat), rank in the queue or -1, {rate, mr, opensAt}
  (a missing field is false/nil), tickets pre-queued (order key < 0), {seconds, microseconds}}.
]]
local rank = redis.call('ZRANK', KEYS[2], ARGV[1])
return {
  redis.call('HGETALL', KEYS[1]),
  rank or -1,
  redis.call('HMGET', KEYS[3], 'rate', 'mr', 'opensAt'),
  redis.call('ZCOUNT', KEYS[2], '-inf', '(0'),
  redis.call('TIME'),
}
