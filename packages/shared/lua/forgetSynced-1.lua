--[[
  Takes the claims the worker just wrote to Postgres off the dirty list — each only if it is still
  the claim that was written: a task claimed again in between (a retry) stays dirty for the next sync.

  Input:
    KEYS[1] dirty claims zset (task id → claim time)
    ARGV[2i - 1], ARGV[2i]   task id and the claim time written, for claim i

  Output: how many were taken off.
]]
local rcall = redis.call
local removed = 0
for i = 1, #ARGV, 2 do
  if rcall("ZSCORE", KEYS[1], ARGV[i]) == ARGV[i + 1] then
    removed = removed + rcall("ZREM", KEYS[1], ARGV[i])
  end
end
return removed
