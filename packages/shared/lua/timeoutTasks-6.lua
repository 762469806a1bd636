--[[
  Tasks claimed longer ago than their task_timeout are treated like those of a silent agent: put back
  at the front of their queue while retries are left (task_retries), failed otherwise. The compare-
  and-set on "claimed" makes a result that arrived first win, and a late one lose.

  Input:
    KEYS[1] deadlines zset    KEYS[2] unsaved zset    KEYS[3] event counters hash
    KEYS[4] in-progress counts hash    KEYS[5] holders zset    KEYS[6] agents last-seen zset
    ARGV[1] now (ms)    ARGV[2] task hash key prefix    ARGV[3] held-set key prefix
    ARGV[4] BullMQ key prefix    ARGV[5] most tasks to handle

  Output: flat list {task id, agent id, claimed at, task_error or "" when retried, attempts, ...}.
]]
local rcall = redis.call
local now = ARGV[1]
local done = {}

--- @include "bullmq"
--- @include "requeueTask"
--- @include "markAnswered"

for _, taskId in ipairs(rcall("ZRANGEBYSCORE", KEYS[1], "-inf", now, "LIMIT", 0, tonumber(ARGV[5]))) do
  rcall("ZREM", KEYS[1], taskId)
  local taskKey = ARGV[2] .. taskId
  local task = rcall("HMGET", taskKey, "state", "agent", "claimed_at", "queue", "attempts", "retries", "data", "posted_at", "timeout")
  if task[1] == "claimed" then
    local heldKey = ARGV[3] .. task[2]
    rcall("SREM", heldKey, taskId)
    if rcall("EXISTS", heldKey) == 0 then rcall("ZREM", KEYS[5], task[2]) end
    rcall("HINCRBY", KEYS[4], task[4], -1)
    local retry = task[6] and task[7] and (tonumber(task[5]) or 1) <= tonumber(task[6])
    local message = "timed out: no result within task_timeout (" .. task[9] .. " s) of the claim by agent " .. task[2]
    if retry then
      requeueTask(taskKey, ARGV[4], task[4], taskId, task[7], task[8])
      rcall("HINCRBY", KEYS[3], "retried:" .. task[4], 1)
    else
      markAnswered(taskKey, taskId, cjson.encode({state = "failed", error = message, cause = "timed_out"}), now, KEYS[2], KEYS[3], "timed_out", task[4])
    end
    done[#done + 1] = taskId
    done[#done + 1] = task[2]
    done[#done + 1] = task[3]
    done[#done + 1] = retry and "" or message
    done[#done + 1] = task[5] or "1"
  end
end
return done
