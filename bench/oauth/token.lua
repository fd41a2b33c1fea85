-- wrk script for the token endpoint: each thread takes every Nth line of a file of authorization codes (or
-- refresh tokens), sends one per request, and writes the refresh token of every 200 answer to OUT<id>.txt
-- (the refresh run then rotates exactly those).
-- wrk ... -s token.lua URL -- FILE OUT MODE(code|refresh) VERIFIER AUTHORIZATION REDIRECT THREADS
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  local file, prefix = args[1], args[2]
  mode, verifier, redirect = args[3], args[4], args[6]
  local n, i = tonumber(args[7]), 0
  items, pos = {}, 0
  for line in io.lines(file) do
    if i % n == id - 1 then items[#items + 1] = line end
    i = i + 1
  end
  out = io.open(prefix .. id .. ".txt", "w")
  out:setvbuf("line")
  err = io.open(prefix .. id .. ".err", "w")
  err:setvbuf("line")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Authorization"] = args[5]
end

function request()
  pos = pos + 1
  local item = items[pos] or "exhausted"
  local body
  if mode == "code" then
    body = "grant_type=authorization_code&code=" .. item .. "&redirect_uri=" .. redirect .. "&code_verifier=" .. verifier
  else
    body = "grant_type=refresh_token&refresh_token=" .. item
  end
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status == 200 then
    local rt = body:match('"refresh_token":%s*"([^"]+)"')
    if rt then out:write(rt, "\n") end
  else
    err:write(status, " ", body, "\n")
  end
end
