--[[
  Puts a task back at the front of its queue: a BullMQ job hash (the fields BullMQ's own storeJob
  writes) pushed on the end of the wait list that claims take from (needs the "bullmq" include), and the task hash back to
  "waiting". Used when a task is retried and when a claim could not be delivered.
]]
local function requeueTask(taskKey, bullPrefix, queue, taskId, jobData, postedAt)
  local jobName = cjson.decode(jobData)["task_type"]
  bullStoreJob(bullKey(bullPrefix, queue, taskId), jobName, jobData, postedAt)
  rcall("RPUSH", bullWait(bullPrefix, queue), taskId)
  rcall("HSET", taskKey, "state", "waiting")
  rcall("HDEL", taskKey, "agent", "claimed_at")
end
