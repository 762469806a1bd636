--[[
  Forgets agents unseen since a cutoff (docs/protocol.md, "Agents going silent"): their last-seen entry and hot state go. An agent that
  polled since the caller looked, or still holds tasks (not yet failed by cleanup), stays.

  Input:
    KEYS[1] agents last-seen zset      KEYS[2] dirty agents set      KEYS[3] holders zset
    ARGV[1] cutoff (ms)    ARGV[2] agent hash key prefix    ARGV[3] held-set key prefix
    ARGV[4..] candidate agent ids

  Output: the ids of the agents dropped.
]]
local rcall = redis.call
local cutoff = tonumber(ARGV[1])
local dropped = {}

for i = 4, #ARGV do
  local agentId = ARGV[i]
  local score = rcall("ZSCORE", KEYS[1], agentId)
  if score and tonumber(score) < cutoff and rcall("EXISTS", ARGV[3] .. agentId) == 0 then
    rcall("ZREM", KEYS[1], agentId)
    rcall("ZREM", KEYS[3], agentId)
    rcall("SREM", KEYS[2], agentId)
    rcall("DEL", ARGV[2] .. agentId)
    dropped[#dropped + 1] = agentId
  end
end

return dropped
