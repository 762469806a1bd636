--[[
  Wakes one long poll waiting for a task of a queue, the one waiting longest (one task, one poll
  woken: no herd). Tokens name the API replica holding the poll; a token whose wait ended, or whose
  replica no longer listens, is skipped. The queue's name is sent along, so a replica whose poll is
  gone can pass the wake on. Returns the token woken, or false.
]]
local function wakeOne(waitingKey, now, wakePrefix, queue)
  while true do
    local popped = rcall("ZPOPMIN", waitingKey)
    if #popped == 0 then return false end
    local token, ends = popped[1], tonumber(popped[2])
    if ends >= now then
      local replica = string.match(token, "^([^/]+)/")
      if rcall("PUBLISH", wakePrefix .. replica, token .. " " .. queue) > 0 then return token end
    end
  end
end
