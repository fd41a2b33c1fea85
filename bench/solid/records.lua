-- wrk script for bench/solid: a consumer's small records written and read back, on the vault or on the Community
-- Solid Server, with the same load and the same records.
--   wrk ... -s records.lua URL -- TARGET(vault|solid) MODE(write|batch|read|readbatch) CALLERS BATCH
-- CALLERS: one line per consumer, "AUTHORIZATION<TAB>PATH" — the vault: "Bearer <personal token>" and
-- /v1/gestures; the peer: "WebID <iri>" and the consumer's container /cN/. Requests rotate over the consumers.
-- write: one record per request (vault: POST /v1/gestures with one event; peer: POST to the container, which
-- creates one resource). batch: BATCH records per request (vault: one POST of BATCH events; peer: one PUT of a new
-- document holding BATCH records, the closest CSS has to a batch write). read: the newest record (vault: GET
-- /v1/gestures?limit=1; peer: GET one record written before the run, rNN.json). readbatch: BATCH records at once
-- (vault: limit=BATCH; peer: GET the document batch.json of BATCH records written before the run).
local callers = {}
local counter = 0
local products = {
  '{"name":"Samsung 65 inch QLED 4K Smart TV","brand":"Samsung","price":899.0,"currency":"EUR"}',
  '{"name":"Sony WH-1000XM5 wireless headphones","brand":"Sony","price":349.0,"currency":"EUR"}',
  '{"name":"Nike Pegasus 41 running shoes","brand":"Nike","price":129.0,"currency":"EUR"}',
  '{"name":"Bosch Serie 6 washing machine","brand":"Bosch","price":649.0,"currency":"EUR"}',
}

function init(args)
  target, mode, batch = args[1], args[2], tonumber(args[4] or "100")
  for line in io.lines(args[3]) do
    local auth, path = line:match("^([^\t]+)\t(.+)$")
    if auth then callers[#callers + 1] = {auth = auth, path = path} end
  end
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
end

local function uuid4()
  return string.format("%08x-%04x-4%03x-%04x-%04x%08x",
    math.random(0, 0xffffffff), math.random(0, 0xffff), math.random(0, 0xfff),
    0x8000 + math.random(0, 0x3fff), math.random(0, 0xffff), math.random(0, 0xffffffff))
end

local function record(i)
  local ts = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - math.random(0, 3600))
  return '{"id":"' .. uuid4() .. '","type":"product_view","ts":"' .. ts ..
    '","origin":"https://shop.example","path":"/p/{id}","dwell_ms":' .. math.random(1000, 60000) ..
    ',"product":' .. products[(i % #products) + 1] .. '}'
end

local function records(n)
  local out = {}
  for i = 1, n do out[i] = record(counter + i) end
  return table.concat(out, ",")
end

function request()
  counter = counter + 1
  local c = callers[(counter % #callers) + 1]
  local headers = {["Authorization"] = c.auth}
  if mode == "read" or mode == "readbatch" then
    if target == "vault" then
      local limit = mode == "read" and 1 or batch
      return wrk.format("GET", c.path .. "?limit=" .. limit, headers)
    end
    local name = mode == "read" and string.format("r%02d.json", counter % 20) or "batch.json"
    return wrk.format("GET", c.path .. name, headers)
  end
  headers["Content-Type"] = "application/json"
  local n = mode == "write" and 1 or batch
  if target == "vault" then
    return wrk.format("POST", c.path, headers, '{"events":[' .. records(n) .. ']}')
  end
  if mode == "write" then
    return wrk.format("POST", c.path, headers, record(counter))
  end
  return wrk.format("PUT", c.path .. uuid4() .. ".json", headers, '{"records":[' .. records(n) .. ']}')
end
