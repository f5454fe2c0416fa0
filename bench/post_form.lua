-- wrk script: POST an application/x-www-form-urlencoded body with an
-- `Authorization: Basic` header, the way a client_credentials client calls a token endpoint.
--
-- Configured from the environment (bench/run.sh sets both):
--   BENCH_FORM   the form body, e.g. "grant_type=client_credentials&scope=api:read"
--   BENCH_BASIC  base64("client_id:client_secret"); empty means no Authorization header
wrk.method = "POST"
wrk.body = os.getenv("BENCH_FORM") or "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

local basic = os.getenv("BENCH_BASIC") or ""
if basic ~= "" then
  wrk.headers["Authorization"] = "Basic " .. basic
end
