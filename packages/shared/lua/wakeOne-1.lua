--[[
  Wakes one long poll waiting for a task of this queue, the one waiting longest (one task posted, one
  poll woken: no herd).
  Tokens name the API replica holding the poll; a token whose wait ended, or whose replica no longer
  listens, is skipped.

  Input:
    KEYS[1] the queue's waiting zset (token → when the wait ends)
    ARGV[1] now (ms)    ARGV[2] wake channel prefix    ARGV[3] the queue's name (sent along, so a
    replica whose poll is gone can pass the wake on)

  Output: the token woken, or false.
]]
local rcall = redis.call
while true do
  local popped = rcall("ZPOPMIN", KEYS[1])
  if #popped == 0 then return false end
  local token, ends = popped[1], tonumber(popped[2])
  if ends >= tonumber(ARGV[1]) then
    local replica = string.match(token, "^([^/]+)/")
    if rcall("PUBLISH", ARGV[2] .. replica, token .. " " .. ARGV[3]) > 0 then return token end
  end
end
