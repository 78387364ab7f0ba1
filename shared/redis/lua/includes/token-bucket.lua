-- A token bucket of `rate` tokens a second that saves up at most 100 ms of them (at least
-- one): its level at `now` from the level `saved` at `at` (a bucket never saved is full),
-- and its size.
local function bucketLevel(rate, saved, at, now)
  local cap = math.max(1, math.ceil(rate / 10))
  if not (saved and at) then return cap, cap end
  return math.min(cap, saved + math.max(0, now - at) * rate / 1000), cap
end
