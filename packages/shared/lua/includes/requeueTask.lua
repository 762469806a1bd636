--[[
  Puts a task back at the front of its queue: a BullMQ job hash (the fields BullMQ's own storeJob
  writes) pushed on the end of the wait list that claims take from, and the task hash back to
  "waiting". Used when a task is retried and when a claim could not be delivered.
]]
local function requeueTask(taskKey, bullPrefix, queue, taskId, jobData, postedAt)
  local jobName = cjson.decode(jobData)["task_type"]
  rcall("HSET", bullPrefix .. ":" .. queue .. ":" .. taskId, "name", jobName, "data", jobData, "opts", "{}",
        "timestamp", postedAt, "delay", 0, "priority", 0)
  rcall("RPUSH", bullPrefix .. ":" .. queue .. ":wait", taskId)
  rcall("HSET", taskKey, "state", "waiting")
  rcall("HDEL", taskKey, "agent", "claimed_at")
end
