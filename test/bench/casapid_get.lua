-- wrk script for test/bench/casapid.sh: GET /api.php for a random card of
-- the bench database (serials 2100000000 .. 2100000000 + CARDS - 1).
local key = os.getenv("API_KEY")
local cards = tonumber(os.getenv("CARDS") or "1000000")
math.randomseed(os.time())
request = function()
  local s = 2100000000 + math.random(0, cards - 1)
  return wrk.format("GET", "/api.php?api_key=" .. key .. "&serial_no=" .. s)
end
response = function(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected answer " .. status .. ": " .. body .. "\n")
    wrk.thread:stop()
  end
end
