-- wrk script for the feed bench: cycles through a file of requests, one per line,
--   PATH <TAB> AUTHORIZATION <TAB> IF-NONE-MATCH (may be empty)
-- (each vendor's HTTP Basic credential, a signed cursor, and for the 304 run the page's ETag), and counts the
-- answers that are not the expected status in EXPECT<id>.txt.
-- wrk ... -s feed.lua URL -- FILE EXPECTED_STATUS
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  reqs, pos = {}, 0
  expected = tonumber(args[2])
  for line in io.lines(args[1]) do
    local path, auth, etag = line:match("^([^\t]*)\t([^\t]*)\t?(.*)$")
    local headers = { ["Authorization"] = auth }
    if etag ~= nil and etag ~= "" then headers["If-None-Match"] = etag end
    reqs[#reqs + 1] = wrk.format("GET", path, headers)
  end
  pos = (id * 7919) % #reqs
  unexpected = 0
end

function request()
  pos = pos % #reqs + 1
  return reqs[pos]
end

function response(status, headers, body)
  if status ~= expected then
    unexpected = unexpected + 1
    if unexpected <= 3 then io.stderr:write("feed.lua: status ", status, " ", body:sub(1, 200), "\n") end
  end
end
