--[[
  Ends a task in Redis with its outcome: state "answered", listed as unsaved until the worker has
  written it to Postgres, and counted as `event` in its queue's counters. Every way a task ends (a
  result, expiry, timeout, silent agent, cancel, drain) goes through here.
]]
local function markAnswered(taskKey, taskId, outcome, now, unsavedKey, countersKey, event, queue)
  if queue then
    rcall("HSET", taskKey, "state", "answered", "outcome", outcome, "finished_at", now, "queue", queue)
    rcall("HINCRBY", countersKey, event .. ":" .. queue, 1)
  else
    rcall("HSET", taskKey, "state", "answered", "outcome", outcome, "finished_at", now)
  end
  rcall("ZADD", unsavedKey, now, taskId)
end
