-- wrk script for bench/run.sh: realistic device uploads, or a fixed GET, with a machine-readable
-- summary. Arguments (after `--`): mode customer batches [customers]
--   mode "post": POST /v1/customers/{customer}/deviceBatches/{batch}/devices with 5 devices; the
--                batch is bench-0 when batches is 1, else requests rotate over bench-0..bench-(n-1);
--                with customers > 1, requests rotate over that many customers instead (batch
--                bench-0 of each), c7f3c849-129f-4b85-a96d-{k as 12 hex digits}, k = 0..n-1
--   mode "postdup": the same, but every request sends the same 5 devices (after the first, each
--                upload is accepted with 806 ZtdDeviceAlreadyAssigned outcomes: no store growth)
--   mode "get":  GET the URL's path as given on the command line
--   mode "close": the same GET, on a new connection each time (Connection: close)
--   mode "token": POST a client_credentials token request (form) to the URL's path
-- In "post" mode every upload carries new product keys and serial numbers: each registers 5 devices.

local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

local mode, customer, batches, customers
local headers = {
  ["Authorization"] = "Bearer bench-token",
  ["Content-Type"] = "application/json",
}
local paths = {}
local n = 0
local fixed

-- One device as an OEM or CSP uploads it: product key, serial number, manufacturer, model.
local device = '{"productKey":"%05d-%05d-%05d-%05d-AA%03d","serialNumber":"SN%02d%09d%d",'
  .. '"oemManufacturerName":"Contoso Ltd.","modelName":"Surface Laptop 5"}'

function init(args)
  mode = args[1] or "get"
  customer = args[2] or "c7f3c849-129f-4b85-a96d-4f8e88b315a3"
  batches = tonumber(args[3] or "1")
  customers = tonumber(args[4] or "1")
  if customers > 1 then
    batches = customers
    for k = 0, customers - 1 do
      paths[k] = "/v1/customers/" .. string.format("c7f3c849-129f-4b85-a96d-%012x", k)
        .. "/deviceBatches/bench-0/devices"
    end
  else
    for b = 0, batches - 1 do
      paths[b] = "/v1/customers/" .. customer .. "/deviceBatches/bench-" .. b .. "/devices"
    end
  end
  if mode == "get" then
    fixed = wrk.format("GET", nil, { ["Authorization"] = "Bearer bench-token" }, nil)
  elseif mode == "postdup" then
    fixed = wrk.format("POST", paths[0], headers, body(0))
  elseif mode == "close" then
    fixed = wrk.format("GET", nil, { ["Connection"] = "close" }, nil)
  elseif mode == "token" then
    fixed = wrk.format("POST", nil, { ["Content-Type"] = "application/x-www-form-urlencoded" },
      "grant_type=client_credentials&client_id=6b5e1c9e-8f0a-4d1e-9c3b-2a7f4e5d6c8b"
        .. "&client_secret=bench&scope=https%3A%2F%2Fapi.partnercenter.microsoft.com%2F.default")
  end
end

function body(n)
  local d = {}
  for k = 1, 5 do
    d[k] = string.format(device, tid, math.floor(n / 100000), n % 100000, k, 606, tid, n, k)
  end
  return "[" .. table.concat(d, ",") .. "]"
end

function request()
  if fixed then
    return fixed
  end
  n = n + 1
  -- Threads start at different customers, so that at any moment they upload into different ones.
  return wrk.format("POST", paths[(n + tid * 7) % batches], headers, body(n))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"bytes":%d,"status_errors":%d,'
      .. '"socket_errors":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
