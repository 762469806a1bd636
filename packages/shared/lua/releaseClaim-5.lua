--[[
  Gives back a task that was claimed for an agent whose poll went away before the answer reached it
  (a long poll whose client disconnected): back to the front of its queue, as if never claimed.

  Input:
    KEYS[1] task hash    KEYS[2] held-set of the agent    KEYS[3] holders zset
    KEYS[4] in-progress counts hash    KEYS[5] deadlines zset
    ARGV[1] task id    ARGV[2] agent id    ARGV[3] BullMQ key prefix    ARGV[4] job data    ARGV[5] posted at (ms)

  Output: 1 when given back, 0 when the task was no longer this agent's claim.
]]
local rcall = redis.call
--- @include "bullmq"
--- @include "requeueTask"
local task = rcall("HMGET", KEYS[1], "state", "agent", "queue", "attempts")
if task[1] ~= "claimed" or task[2] ~= ARGV[2] then return 0 end
rcall("SREM", KEYS[2], ARGV[1])
if rcall("EXISTS", KEYS[2]) == 0 then rcall("ZREM", KEYS[3], ARGV[2]) end
rcall("HINCRBY", KEYS[4], task[3], -1)
rcall("ZREM", KEYS[5], ARGV[1])
rcall("HSET", KEYS[1], "attempts", math.max(0, (tonumber(task[4]) or 1) - 1))
requeueTask(KEYS[1], ARGV[3], task[3], ARGV[1], ARGV[4], ARGV[5])
return 1
