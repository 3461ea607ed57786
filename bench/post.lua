-- wrk script: POST the body in $BODY_FILE with $AUTH as the bearer token, as $CONTENT_TYPE
-- (application/json unless set).
wrk.method = "POST"
wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE") or "application/json"
local token = os.getenv("AUTH")
if token and #token > 0 then wrk.headers["Authorization"] = "Bearer " .. token end
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.body = f:read("*a")
f:close()

