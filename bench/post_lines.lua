-- wrk script: POST one line of a file per request, in turn, as an
-- application/x-www-form-urlencoded body: requests that may be sent only once each, such as
-- private_key_jwt token requests whose assertions are single-use (examples/assertions.rs
-- makes them). Past the last line it starts over (those requests then fail as replays, and
-- wrk counts them as non-2xx: bench/run.sh makes files longer than a run needs).
--
-- Configured from the environment (bench/run.sh sets it):
--   BENCH_LINES  the file of bodies, one per line
local lines = {}
local next_line = 0

function init(args)
  for line in io.lines(os.getenv("BENCH_LINES")) do
    lines[#lines + 1] = line
  end
end

request = function()
  next_line = next_line % #lines + 1
  return wrk.format("POST", nil, { ["Content-Type"] = "application/x-www-form-urlencoded" }, lines[next_line])
end
