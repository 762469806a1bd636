--[[
  Wakes one long poll waiting for a task of this queue (includes/wakeOne.lua).

  Input:
    KEYS[1] the queue's waiting zset (token → when the wait ends)
    ARGV[1] now (ms)    ARGV[2] wake channel prefix    ARGV[3] the queue's name

  Output: the token woken, or false.
]]
local rcall = redis.call
--- @include "wakeOne"
return wakeOne(KEYS[1], tonumber(ARGV[1]), ARGV[2], ARGV[3])
