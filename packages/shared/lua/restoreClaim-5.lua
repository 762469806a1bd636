--[[
  Rebuilds the claim of a task from Postgres after Redis lost it (flush, restart without persistence).
  Does nothing when Redis already knows the task. An agent Redis does not know counts as seen now, so
  cleanup gives it a full AGENT_ACTIVE_THRESHOLD to poll again before failing its tasks.

  Input:
    KEYS[1] task hash    KEYS[2] agent's held-task set    KEYS[3] agents last-seen zset
    KEYS[4] in-progress counts hash    KEYS[5] holders zset
    ARGV[1] task id      ARGV[2] agent id    ARGV[3] claimed at (ms)    ARGV[4] queue name    ARGV[5] now (ms)

  Output: 1 when restored, 0 when the task hash already existed.
]]
local rcall = redis.call
if rcall("EXISTS", KEYS[1]) == 1 then return 0 end
rcall("HSET", KEYS[1], "state", "claimed", "agent", ARGV[2], "claimed_at", ARGV[3], "queue", ARGV[4])
rcall("SADD", KEYS[2], ARGV[1])
rcall("ZADD", KEYS[3], "NX", ARGV[5], ARGV[2])
rcall("ZADD", KEYS[5], "NX", rcall("ZSCORE", KEYS[3], ARGV[2]), ARGV[2])
rcall("HINCRBY", KEYS[4], ARGV[4], 1)
return 1
