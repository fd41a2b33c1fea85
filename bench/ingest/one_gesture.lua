-- wrk script: one gesture per POST /v1/gestures, as the extension sends a gesture the moment it happens.
--   wrk -t1 -c16 -d10s --latency -s bench/ingest/one_gesture.lua http://127.0.0.1:PORT -- tokens.txt
-- tokens.txt holds personal tokens (one a line, scope gestures:write); each request takes the next token, so the
-- load spreads over many consumers. Every event has a fresh id (nothing is a duplicate) and a timestamp in the
-- last hour; the products rotate over a few real-looking ones (the classifier sees repeats, as in real use).

local tokens = {}
local products = {
  '{"name":"Samsung 65 inch QLED 4K Smart TV","brand":"Samsung","price":899.0,"currency":"EUR"}',
  '{"name":"Sony WH-1000XM5 wireless headphones","brand":"Sony","price":349.0,"currency":"EUR"}',
  '{"name":"Nike Pegasus 41 running shoes","brand":"Nike","price":129.0,"currency":"EUR"}',
  '{"name":"Bosch Serie 6 washing machine","brand":"Bosch","price":649.0,"currency":"EUR"}',
}
local counter = 0

function init(args)
  local path = args[1] or "tokens.txt"
  for line in io.lines(path) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
end

local function uuid4()
  return string.format("%08x-%04x-4%03x-%04x-%04x%08x",
    math.random(0, 0xffffffff), math.random(0, 0xffff), math.random(0, 0xfff),
    0x8000 + math.random(0, 0x3fff), math.random(0, 0xffff), math.random(0, 0xffffffff))
end

function request()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  local ts = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - math.random(0, 3600))
  local body = '{"events":[{"id":"' .. uuid4() .. '","type":"product_view","ts":"' .. ts ..
    '","origin":"https://shop.example","path":"/p/{id}","dwell_ms":' .. math.random(1000, 60000) ..
    ',"product":' .. products[(counter % #products) + 1] .. '}]}'
  return wrk.format("POST", "/v1/gestures",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
