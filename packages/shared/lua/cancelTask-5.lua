--[[
  Cancels a task (DELETE /task/<id>): a waiting or claimed task becomes failed with task_error
  "cancelled", through the same compare-and-set as a result, so a result that came first stands and a
  later one is refused.

  Input:
    KEYS[1] task hash    KEYS[2] unsaved zset    KEYS[3] event counters hash
    KEYS[4] in-progress counts hash    KEYS[5] holders zset
    ARGV[1] task id    ARGV[2] now (ms)    ARGV[3] outcome JSON    ARGV[4] held-set key prefix
    ARGV[5] BullMQ key prefix    ARGV[6] the task's queue

  Output: {"cancelled", agent id or "", claimed at or ""}, or {state, outcome JSON or "", finished at or ""}
  when it was not cancelled ("answered"/"done": finished; the outcome until Postgres has it).
]]
local rcall = redis.call

--- @include "bullmq"
--- @include "markAnswered"

local task = rcall("HMGET", KEYS[1], "state", "agent", "claimed_at", "outcome", "finished_at")
local state = task[1] or "waiting"
if state ~= "waiting" and state ~= "claimed" then return {state, task[4] or "", task[5] or ""} end

if state == "waiting" then
  rcall("LREM", bullWait(ARGV[5], ARGV[6]), -1, ARGV[1])
  bullDeleteJob(bullKey(ARGV[5], ARGV[6], ARGV[1]))
else
  local heldKey = ARGV[4] .. task[2]
  rcall("SREM", heldKey, ARGV[1])
  if rcall("EXISTS", heldKey) == 0 then rcall("ZREM", KEYS[5], task[2]) end
  rcall("HINCRBY", KEYS[4], ARGV[6], -1)
end
markAnswered(KEYS[1], ARGV[1], ARGV[3], ARGV[2], KEYS[2], KEYS[3], "cancelled", ARGV[6])
return {"cancelled", task[2] or "", task[3] or ""}
