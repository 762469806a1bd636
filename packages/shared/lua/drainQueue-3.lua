--[[
  Fails up to max waiting tasks of one queue with an operator's reason (`slamon-afm queues drain`).
  Each task goes through the same state machine as a result: a stale copy of a task that is not
  waiting is only removed.

  Input:
    KEYS[1] the queue's wait list    KEYS[2] unsaved zset    KEYS[3] event counters hash
    ARGV[1] job key prefix   ARGV[2] task hash key prefix   ARGV[3] now (ms)
    ARGV[4] outcome JSON     ARGV[5] queue name             ARGV[6] max tasks

  Output: the ids of the tasks failed.
]]
local rcall = redis.call

--- @include "bullmq"
--- @include "markAnswered"

local failed = {}
for _ = 1, tonumber(ARGV[6]) do
  local jobId = rcall("RPOP", KEYS[1])
  if not jobId then break end
  local exists = rcall("EXISTS", ARGV[1] .. jobId) == 1
  bullDeleteJob(ARGV[1] .. jobId)
  local taskKey = ARGV[2] .. jobId
  local state = rcall("HGET", taskKey, "state")
  if exists and (not state or state == "waiting") then
    markAnswered(taskKey, jobId, ARGV[4], ARGV[3], KEYS[2], KEYS[3], "drained", ARGV[5])
    failed[#failed + 1] = jobId
  end
end
return failed
