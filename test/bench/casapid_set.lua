-- wrk script for test/bench/casapid.sh: GET /api.php with set[...] on a
-- random card: new access_criteria and finish (each request a real change:
-- an audited update with a new change number, committed before the answer).
local key = os.getenv("API_KEY")
local cards = tonumber(os.getenv("CARDS") or "1000000")
math.randomseed(os.time() + 1)
local n = 0
request = function()
  n = n + 1
  local s = 2100000000 + math.random(0, cards - 1)
  local ac = string.format("%08X", math.random(0, 0x7fffffff))
  local fin = 1800000000 + math.random(0, 99999999)
  return wrk.format("GET", "/api.php?api_key=" .. key .. "&serial_no=" .. s ..
    "&set%5Baccess_criteria%5D=" .. ac .. "&set%5Bfinish%5D=" .. fin)
end
response = function(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected answer " .. status .. ": " .. body .. "\n")
    wrk.thread:stop()
  end
end
