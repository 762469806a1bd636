--[[
  Accepts the outcome of a claimed task: the first one wins (invariant 3). Compare-and-set on the task
  hash from "claimed" to "answered"; the outcome is kept in the hash and the task is listed as unsaved
  until the worker has written it to Postgres, so an accepted outcome survives a lost results job.

  Input:
    KEYS[1] task hash    KEYS[2] unsaved zset    KEYS[3] event counters hash    KEYS[4] in-progress counts hash
    KEYS[5] holders zset
    ARGV[1] task id      ARGV[2] outcome JSON    ARGV[3] now (ms)    ARGV[4] held-set key prefix
    ARGV[5] the outcome's event: "completed" or "failed"
    ARGV[6] the agent that must hold the claim (a bound agent token), or "" for any (an id no agent has
            makes the script refuse any claim: the caller saw none)

  Output: {"ok", agent id, claimed at, attempts} when accepted; {"answered", outcome JSON, agent id,
  finished at, claimed at, attempts, "agent" or ""} when an outcome was accepted before and is not yet
  in Postgres, the last field saying whether an agent sent it (the caller tells an identical repeat
  from a conflicting one);
  otherwise {state}, with state "missing" when Redis does not know the task and "other-agent" when
  another agent than ARGV[6] holds it.
]]
local rcall = redis.call

--- @include "markAnswered"

local state = rcall("HGET", KEYS[1], "state")
if not state then return {"missing"} end
if state == "answered" then
  local first = rcall("HMGET", KEYS[1], "outcome", "agent", "finished_at", "claimed_at", "attempts", "by")
  return {"answered", first[1] or "", first[2] or "", first[3] or "", first[4] or "", first[5] or "1", first[6] or ""}
end
if state ~= "claimed" then return {state} end

local claim = rcall("HMGET", KEYS[1], "agent", "claimed_at", "queue", "attempts")
if ARGV[6] ~= "" and claim[1] ~= ARGV[6] then return {"other-agent"} end
markAnswered(KEYS[1], ARGV[1], ARGV[2], ARGV[3], KEYS[2], KEYS[3], ARGV[5], claim[3])
rcall("HSET", KEYS[1], "by", "agent")
rcall("SREM", ARGV[4] .. claim[1], ARGV[1])
if rcall("EXISTS", ARGV[4] .. claim[1]) == 0 then rcall("ZREM", KEYS[5], claim[1]) end
if claim[3] then rcall("HINCRBY", KEYS[4], claim[3], -1) end
return {"ok", claim[1], claim[2], claim[4] or "1"}
