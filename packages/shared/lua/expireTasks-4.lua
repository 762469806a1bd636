--[[
  Fails the tasks whose task_ttl ended before any agent claimed them. A claim and an expiry exclude
  each other: whichever changes the task hash first wins.

  Input:
    KEYS[1] expiry zset    KEYS[2] unsaved zset    KEYS[3] event counters hash    KEYS[4] set of task queues
    ARGV[1] now (ms)    ARGV[2] task hash key prefix    ARGV[3] BullMQ key prefix    ARGV[4] most tasks to handle

  Output: flat list {task id, task_error, ...} of the tasks failed.
]]
local rcall = redis.call

--- @include "bullmq"
--- @include "markAnswered"

local now = ARGV[1]
local expired = {}
for _, taskId in ipairs(rcall("ZRANGEBYSCORE", KEYS[1], "-inf", now, "LIMIT", 0, tonumber(ARGV[4]))) do
  rcall("ZREM", KEYS[1], taskId)
  local taskKey = ARGV[2] .. taskId
  local task = rcall("HMGET", taskKey, "state", "queue", "ttl")
  if task[1] == "waiting" and task[2] then
    -- The oldest tasks expire first, and they sit at the end the search starts from.
    rcall("LREM", bullWait(ARGV[3], task[2]), -1, taskId)
    bullDeleteJob(bullKey(ARGV[3], task[2], taskId))
    local message = "expired: not claimed within task_ttl (" .. task[3] .. " s)"
    markAnswered(taskKey, taskId, cjson.encode({state = "failed", error = message, cause = "ttl_expired"}), now, KEYS[2], KEYS[3], "ttl_expired", task[2])
    expired[#expired + 1] = taskId
    expired[#expired + 1] = message
  end
end
return expired
