--[[
  Rebuilds the claim of a task from Postgres after Redis lost it (flush, restart without persistence).
  Does nothing when Redis already knows the task.

  Input:
    KEYS[1] task hash    KEYS[2] agent's held-task set
    ARGV[1] task id      ARGV[2] agent id    ARGV[3] claimed at (ms)    ARGV[4] queue name

  Output: 1 when restored, 0 when the task hash already existed.
]]
local rcall = redis.call
if rcall("EXISTS", KEYS[1]) == 1 then return 0 end
rcall("HSET", KEYS[1], "state", "claimed", "agent", ARGV[2], "claimed_at", ARGV[3], "queue", ARGV[4])
rcall("SADD", KEYS[2], ARGV[1])
return 1
