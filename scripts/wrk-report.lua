-- wrk script for scripts/bench: optional POST body from the environment, and one summary line
-- of figures at the end: "RESULT <req/s> <p50 ms> <p99 ms> <requests> <errors>".
local body = os.getenv("WRK_BODY")
if body and body ~= "" then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

-- Each request for a "miss" run asks for a different, never cached, place.
local distinct = os.getenv("WRK_DISTINCT_CITIES") == "1"
local counter = 0
request = function()
  if distinct then
    counter = counter + 1
    local path = string.format("/api/v1/weather?city=bench-%d-%d", math.random(1, 1e9), counter)
    return wrk.format(nil, path)
  end
  return wrk.format()
end

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format("RESULT %.0f %.2f %.2f %d %d\n",
    summary.requests / seconds,
    latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    summary.requests,
    errors))
end
