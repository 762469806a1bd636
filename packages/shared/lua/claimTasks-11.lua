--[[
  Registers an agent's poll and claims up to max_tasks waiting tasks for it, oldest first across the
  task queues of its capabilities (docs/protocol.md). One atomic script: a task goes to one agent only,
  however many API replicas poll at once, and a poll costs one round trip whatever it claims.

  A claimed job leaves BullMQ at once (popped from `wait`, job hash deleted); the claim lives in AFM's
  task hash, which no lock expiry can take away, so an agent may hold a task for hours.
  A job whose task hash says anything but "waiting" (claimed, cancelled, finished) is a stale copy,
  e.g. re-added by the reconciler, and is dropped: a task with a result is never handed out again.

  Input:
    KEYS[1] agents last-seen zset     KEYS[2] agent hash      KEYS[3] dirty agents set
    KEYS[4] dirty claims zset         KEYS[5] agent's held-task set
    KEYS[6] event counters hash       KEYS[7] in-progress counts hash
    KEYS[8] holders zset (last seen of agents holding tasks)
    KEYS[9] task_ttl expiry zset      KEYS[10] task_timeout deadlines zset
    KEYS[11] the agent's poll counter of this second

    ARGV[1] agent id    ARGV[2] now (ms)    ARGV[3] max tasks
    ARGV[4] agent name  ARGV[5] location JSON ('' when absent)  ARGV[6] capabilities JSON
    ARGV[7] agent time  ARGV[8] task hash key prefix            ARGV[9] BullMQ key prefix
    ARGV[10] how often an unchanged agent is written to Postgres anyway (ms)
    ARGV[11] polls allowed per agent per second (0: no limit)
    ARGV[12] most bytes of job data one poll takes (the first task always goes)
    ARGV[12 + i]        name of capability queue i (i = 1..n); its BullMQ keys are derived from it
                        (`<prefix>:<queue>:wait`, `:meta`), which keeps a poll's arguments small

  Tasks posted with options (task_ttl, task_timeout, task_retries) have a task hash from the start;
  a claim counts an attempt, ends the time to live, starts the timeout, and keeps what a retry needs.

  A poll takes tasks until their job data would pass ARGV[12] bytes, so its answer (and the memory it
  takes to make it) stays bounded however large task_data may be.

  Output: flat list {job data (JSON), posting time (ms), ...} of the claimed tasks, oldest first;
  {"RATE_LIMITED"} when the agent polled more often than allowed this second.
]]
local rcall = redis.call
--- @include "bullmq"
local agentId, now, maxTasks = ARGV[1], ARGV[2], tonumber(ARGV[3])
local taskPrefix, bullPrefix = ARGV[8], ARGV[9]

local limit = tonumber(ARGV[11])
if limit > 0 then
  local polls = rcall("INCR", KEYS[11])
  if polls == 1 then rcall("PEXPIRE", KEYS[11], 1000) end
  if polls > limit then return {"RATE_LIMITED"} end
end

-- The worker copies an agent to Postgres when it changed, and otherwise every so often (last_seen);
-- Redis keeps the exact last-seen time that liveness and cleanup go by.
local before = rcall("HMGET", KEYS[2], "name", "location", "capabilities", "marked_at")
local changed = before[1] ~= ARGV[4] or before[2] ~= ARGV[5] or before[3] ~= ARGV[6]
rcall("HSET", KEYS[2], "name", ARGV[4], "location", ARGV[5], "capabilities", ARGV[6],
      "agent_time", ARGV[7], "last_seen", now)
rcall("HSETNX", KEYS[2], "first_seen", now)
rcall("ZADD", KEYS[1], now, agentId)
rcall("ZADD", KEYS[8], "XX", now, agentId)
if changed or not before[4] or tonumber(now) - tonumber(before[4]) >= tonumber(ARGV[10]) then
  rcall("SADD", KEYS[3], agentId)
  rcall("HSET", KEYS[2], "marked_at", now)
end

local claimed = {}
if maxTasks <= 0 then return claimed end

local queueCount = #ARGV - 12
local heads = {}

local function queueName(i) return ARGV[12 + i] end
local function jobKey(i, jobId) return bullKey(bullPrefix, queueName(i), jobId) end
local function waitKey(i) return bullWait(bullPrefix, queueName(i)) end
local maxBytes, bytes = tonumber(ARGV[12]), 0

-- heads[i] = {jobId, timestamp} of the oldest job of queue i, or false when it has none.
local function peek(i)
  while true do
    local jobId = rcall("LINDEX", waitKey(i), -1)
    if not jobId then
      heads[i] = false
      return
    end
    local timestamp = rcall("HGET", jobKey(i, jobId), BULL_TIMESTAMP)
    if timestamp then
      heads[i] = {jobId, tonumber(timestamp)}
      return
    end
    rcall("RPOP", waitKey(i)) -- the id of a job removed behind BullMQ's back
  end
end

for i = 1, queueCount do
  if rcall("HEXISTS", bullMeta(bullPrefix, queueName(i)), BULL_PAUSED) == 1 then heads[i] = false else peek(i) end
end

while #claimed < 2 * maxTasks do
  local best
  for i = 1, queueCount do
    local head = heads[i]
    if head and (not best or head[2] < heads[best][2]) then best = i end
  end
  if not best then break end

  local jobId = heads[best][1]
  local job = jobKey(best, jobId)
  local size = rcall("HSTRLEN", job, BULL_DATA)
  if #claimed > 0 and bytes + size > maxBytes then break end
  rcall("RPOP", waitKey(best))
  local data = rcall("HGET", job, BULL_DATA)
  bullDeleteJob(job)

  local taskKey = taskPrefix .. jobId
  local task = rcall("HMGET", taskKey, "state", "timeout", "retries", "attempts")
  local state = task[1]
  if data and (not state or state == "waiting") then
    rcall("HSET", taskKey, "state", "claimed", "agent", agentId, "claimed_at", now,
          "queue", queueName(best), "attempts", (tonumber(task[4]) or 0) + 1)
    if task[2] then rcall("ZADD", KEYS[10], tonumber(now) + 1000 * tonumber(task[2]), jobId) end
    if task[3] and tonumber(task[3]) > 0 then
      rcall("HSET", taskKey, "data", data, "posted_at", heads[best][2])
    end
    rcall("ZREM", KEYS[9], jobId)
    rcall("SADD", KEYS[5], jobId)
    rcall("ZADD", KEYS[8], now, agentId)
    rcall("ZADD", KEYS[4], now, jobId)
    rcall("HINCRBY", KEYS[6], "claimed:" .. queueName(best), 1)
    rcall("HINCRBY", KEYS[7], queueName(best), 1)
    bytes = bytes + size
    claimed[#claimed + 1] = data
    claimed[#claimed + 1] = tostring(heads[best][2])
  end
  peek(best)
end

return claimed
