--[[
  Marks a task whose outcome Postgres now holds as done. The hash shrinks to a tombstone that expires
  after a while: until then it answers late results at once and stops stale job copies from being
  dispatched (claimTasks drops jobs of tasks that are not waiting).

  Input:
    KEYS[1] task hash    KEYS[2] unsaved zset
    ARGV[1] task id      ARGV[2] tombstone lifetime (s)
]]
local rcall = redis.call
rcall("HDEL", KEYS[1], "outcome", "queue")
rcall("HSET", KEYS[1], "state", "done")
rcall("EXPIRE", KEYS[1], ARGV[2])
rcall("ZREM", KEYS[2], ARGV[1])
return 1
