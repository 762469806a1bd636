--[[
  Counts the tasks waiting in every task queue ever used (GET /status `tasks_waiting`).

  Input:
    KEYS[1] set of task queue names    ARGV[1] BullMQ key prefix
  Output: the sum of the queues' wait-list lengths.
]]
local rcall = redis.call
--- @include "bullmq"
local total = 0
for _, name in ipairs(rcall("SMEMBERS", KEYS[1])) do
  total = total + rcall("LLEN", bullWait(ARGV[1], name))
end
return total
