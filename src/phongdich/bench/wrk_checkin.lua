-- wrk script for `phongdich bench checkin`.
--
--   wrk ... -s wrk_checkin.lua http://127.0.0.1:PORT -- MODE ARGS...
--
--   MODE "checkin": ARGS = threads token_file scan_id_prefix entrance_id session csrf
--     one staff scan per request, POST /api/v1/visits/scans, each with a fresh client scan id
--     (PREFIX-<thread>-<counter>, a well-formed UUID) and the next person token of the file,
--     round-robin across threads so that no token is used twice before all were used once.
--   MODE "noop": ARGS = threads path session csrf
--     GET PATH with the same cookies, for the ratio against a request that does no work.
--
-- done() prints one line "WRKSTATS key=value ...": HTTP 200 responses, those whose body says
-- "ok":true (an acknowledged scan), those that recorded a check-in, and everything else.

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("thread_id", counter)
   table.insert(threads, thread)
end

local mode, nthreads, path, headers
local tokens, ntokens, prefix, entrance, seq

function init(args)
   mode = args[1]
   nthreads = tonumber(args[2])
   status200, acked, checkins, other = 0, 0, 0, 0
   seq = 0
   local session, csrf
   if mode == "checkin" then
      local token_file = args[3]
      prefix = args[4]
      entrance = tonumber(args[5])
      session, csrf = args[6], args[7]
      path = "/api/v1/visits/scans"
      tokens = {}
      for line in io.lines(token_file) do
         if #line > 0 then
            tokens[#tokens + 1] = line
         end
      end
      ntokens = #tokens
   elseif mode == "noop" then
      path = args[3]
      session, csrf = args[4], args[5]
   else
      error("unknown mode " .. tostring(mode))
   end
   headers = {
      ["Cookie"] = "pd_session=" .. session .. "; pd_csrf=" .. csrf,
      ["X-CSRF-Token"] = csrf,
      ["Content-Type"] = "application/json",
   }
end

-- A person token is a health QR pass ("PD1:" + base45, 129 characters): taken whole from its
-- line (it may contain spaces, '%' and '$'), and put in the JSON string unescaped, which is safe
-- because the base45 alphabet has no '"' and no '\'.
local body_format =
   '{"scans":[{"id":"%s","entrance_id":%d,"person_token":"%s","direction":"in"}]}'

function request()
   if mode == "noop" then
      return wrk.format("GET", path, headers, nil)
   end
   -- thread 1 takes tokens 1, 1+n, 1+2n...; thread 2 takes 2, 2+n...
   local index = (seq * nthreads + (thread_id - 1)) % ntokens + 1
   local scan_id = string.format("%s-%04x-%012x", prefix, 0x8000 + thread_id, seq)
   seq = seq + 1
   local body = string.format(body_format, scan_id, entrance, tokens[index])
   return wrk.format("POST", path, headers, body)
end

function response(status, _headers, body)
   if status == 200 then
      status200 = status200 + 1
      if mode == "noop" or string.find(body, '"ok":true', 1, true) then
         acked = acked + 1
      end
      if string.find(body, '"action":"check_in"', 1, true) then
         checkins = checkins + 1
      end
   else
      other = other + 1
   end
end

function done(summary, latency, _requests)
   local s200, a, c, o = 0, 0, 0, 0
   for _, thread in ipairs(threads) do
      s200 = s200 + thread:get("status200")
      a = a + thread:get("acked")
      c = c + thread:get("checkins")
      o = o + thread:get("other")
   end
   local e = summary.errors
   io.write(string.format(
      "WRKSTATS status200=%d acked=%d checkins=%d other=%d requests=%d duration_us=%d "
         .. "p50_us=%d p99_us=%d errors_connect=%d errors_read=%d errors_write=%d "
         .. "errors_status=%d errors_timeout=%d\n",
      s200, a, c, o, summary.requests, summary.duration,
      latency:percentile(50.0), latency:percentile(99.0),
      e.connect, e.read, e.write, e.status, e.timeout))
end
