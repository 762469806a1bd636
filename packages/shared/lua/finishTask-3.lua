--[[
  Marks a task whose outcome Postgres now holds as done. The hash shrinks to a tombstone that expires
  after a while: until then it answers late results at once and stops stale job copies from being
  dispatched (claimTasks drops jobs of tasks that are not waiting).

  A `GET /task/<id>?wait` watching the task is told on the finished channel.

  Input:
    KEYS[1] task hash    KEYS[2] unsaved zset    KEYS[3] watched zset
    ARGV[1] task id      ARGV[2] tombstone lifetime (s)    ARGV[3] now (ms)    ARGV[4] finished channel
]]
local rcall = redis.call
rcall("HDEL", KEYS[1], "outcome", "queue", "data", "posted_at", "agent", "claimed_at", "by")
rcall("HSET", KEYS[1], "state", "done")
rcall("EXPIRE", KEYS[1], ARGV[2])
rcall("ZREM", KEYS[2], ARGV[1])
local watchedUntil = rcall("ZSCORE", KEYS[3], ARGV[1])
if watchedUntil then
  rcall("ZREM", KEYS[3], ARGV[1])
  if tonumber(watchedUntil) >= tonumber(ARGV[3]) then rcall("PUBLISH", ARGV[4], ARGV[1]) end
end
return 1
