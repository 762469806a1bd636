--[[
  Puts tasks in their queues, many in one call (issue 14: one round trip per batch of posts where a
  BullMQ add, a bookkeeping pipeline and a wake each took one per task). A task's job is stored as
  BullMQ's own add stores a plain job, and its id pushed on the left of the wait list claims take from
  the right; a job already there (same queue, same task id) is left as it is. A newly posted task wakes
  the long poll waiting longest for its queue (includes/wakeOne.lua), in the same atomic step.

  Input:
    KEYS[1] set of task queue names   KEYS[2] event counters hash   KEYS[3] task_ttl expiry zset
    ARGV[1] BullMQ key prefix   ARGV[2] task hash key prefix   ARGV[3] waiting-polls zset key prefix
    ARGV[4] wake channel prefix   ARGV[5] now (ms)
    then 9 values per task: queue, task id, job name, job data (JSON), posting time (ms),
      "1" when newly posted (counted, and wakes a poll) else "0", task_ttl, task_timeout,
      task_retries ("" for each option not given)

  Output: per task, 1 when queued, 0 when its job was already there.
]]
local rcall = redis.call
--- @include "bullmq"
--- @include "wakeOne"
local bullPrefix, taskPrefix, waitingPrefix, wakePrefix, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])

local queued = {}
for i = 6, #ARGV, 9 do
  local queue, taskId, name, data, postedAt, newTask = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local ttl, timeout, retries = ARGV[i + 6], ARGV[i + 7], ARGV[i + 8]
  rcall("SADD", KEYS[1], queue)
  if newTask == "1" then rcall("HINCRBY", KEYS[2], "posted:" .. queue, 1) end
  if ttl ~= "" or timeout ~= "" or retries ~= "" then
    -- The task hash comes first, so the claim finds the options; an existing one keeps its state.
    local taskKey = taskPrefix .. taskId
    rcall("HSETNX", taskKey, "state", "waiting")
    rcall("HSET", taskKey, "queue", queue)
    if ttl ~= "" then
      rcall("HSET", taskKey, "ttl", ttl)
      rcall("ZADD", KEYS[3], "NX", tonumber(postedAt) + tonumber(ttl) * 1000, taskId)
    end
    if timeout ~= "" then rcall("HSET", taskKey, "timeout", timeout) end
    if retries ~= "" then rcall("HSET", taskKey, "retries", retries) end
  end
  local jobKey = bullKey(bullPrefix, queue, taskId)
  if rcall("EXISTS", jobKey) == 1 then
    queued[#queued + 1] = 0
  else
    bullStoreJob(jobKey, name, data, postedAt)
    rcall("LPUSH", bullWait(bullPrefix, queue), taskId)
    queued[#queued + 1] = 1
  end
  if newTask == "1" then wakeOne(waitingPrefix .. queue, now, wakePrefix, queue) end
end
return queued
