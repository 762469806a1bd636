--[[
  Fails the tasks held by agents that went silent (docs/protocol.md, "Agents going silent"), or, for a task with retries left
  (task_retries), puts it back at the front of its queue. For each candidate agent the script
  checks, atomically with polls, that the agent was not seen since the caller looked: an agent that
  polled in between (even with max_tasks 0) keeps its tasks. Each task goes through the same
  compare-and-set as a result, "claimed" → "answered", so a task whose result already arrived is never
  touched, and exactly one of "result accepted" and "failed by cleanup" wins a race.

  Input:
    KEYS[1] agents last-seen zset      KEYS[2] unsaved zset
    KEYS[3] event counters hash        KEYS[4] in-progress counts hash
    KEYS[5] holders zset               KEYS[6] task_timeout deadlines zset
    ARGV[1] now (ms)    ARGV[2] task hash key prefix    ARGV[3] held-set key prefix
    ARGV[4] BullMQ key prefix
    ARGV[5 + 3i], ARGV[6 + 3i], ARGV[7 + 3i]   agent id, last seen (ms) as the caller saw it, and the
                                                task_error to record, for candidate i (i = 0..n-1)

  Output: flat list {task id, agent id, claimed at, task_error or "" when retried, attempts, ...}.
]]
local rcall = redis.call
local now = ARGV[1]
local failed = {}

--- @include "bullmq"
--- @include "requeueTask"
--- @include "markAnswered"

for i = 5, #ARGV, 3 do
  local agentId, lastSeen, message = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local score = rcall("ZSCORE", KEYS[1], agentId)
  if score and tonumber(score) == tonumber(lastSeen) then
    local heldKey = ARGV[3] .. agentId
    local outcome = cjson.encode({state = "failed", error = message, cause = "agent_silent"})
    for _, taskId in ipairs(rcall("SMEMBERS", heldKey)) do
      local taskKey = ARGV[2] .. taskId
      local task = rcall("HMGET", taskKey, "state", "agent", "claimed_at", "queue", "attempts", "retries", "data", "posted_at")
      if task[1] == "claimed" and task[2] == agentId then
        local retry = task[6] and task[7] and (tonumber(task[5]) or 1) <= tonumber(task[6])
        if retry then
          requeueTask(taskKey, ARGV[4], task[4], taskId, task[7], task[8])
          rcall("HINCRBY", KEYS[3], "retried:" .. task[4], 1)
        else
          markAnswered(taskKey, taskId, outcome, now, KEYS[2], KEYS[3], "agent_silent", task[4])
        end
        rcall("HINCRBY", KEYS[4], task[4], -1)
        rcall("ZREM", KEYS[6], taskId)
        failed[#failed + 1] = taskId
        failed[#failed + 1] = agentId
        failed[#failed + 1] = task[3]
        failed[#failed + 1] = retry and "" or message
        failed[#failed + 1] = task[5] or "1"
      end
      rcall("SREM", heldKey, taskId)
    end
    rcall("ZREM", KEYS[5], agentId)
  end
end

return failed
