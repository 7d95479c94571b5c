-- The Lua contender of bench/run.sh: what an nginx user would write in
-- access_by_lua instead of the module (OpenResty style, Debian's
-- libnginx-mod-http-lua and lua-nginx-redis).
--
--   * key from X-Secret-Key or "Authorization: Bearer"
--   * a lua_shared_dict cache  sha1(key) -> "active|expires|access|limit"
--     (60 s TTL; unknown keys are cached too, as "", for 10 s)
--   * on a miss: HGETALL lua:key:<hex sha1(key)> from Redis (nginx.redis,
--     i.e. resty.redis, over a keepalive pool)
--   * the hourly counter in a second shared dict: incr(key .. hour)
--   * active / expires / limit / read-only checks, JSON refusals
--   * the key header removed before the content phase, as the module does
--
-- Simplifications, all in Lua's favour: SHA-1 (OpenSSL, unkeyed) instead of
-- keyed BLAKE2b; no prefix/checksum/syntax check; no ips, no grants; no
-- revocation events (a revoked key lives until the cache entry expires).

local _M = {}

local redis = require "nginx.redis"       -- Debian's name for resty.redis

local cache = ngx.shared.apikey_cache
local counts = ngx.shared.apikey_counts
local sha1_bin = ngx.sha1_bin
local byte, format, concat = string.byte, string.format, table.concat
local floor = math.floor

local REDIS_HOST, REDIS_PORT = "127.0.0.1", tonumber(os.getenv("BENCH_REDIS_PORT") or "") or 16396

local function refuse(status, detail)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    if status == 401 then
        ngx.header["WWW-Authenticate"] = "Bearer"
    end
    ngx.print('{"detail":"', detail, '"}')
    return ngx.exit(status)
end

local function hex(s)
    local t = {}
    for i = 1, #s do
        t[i] = format("%02x", byte(s, i))
    end
    return concat(t)
end

local function fetch(h)
    local red = redis:new()
    red:set_timeouts(100, 100, 100)
    local ok, err = red:connect(REDIS_HOST, REDIS_PORT)
    if not ok then
        return nil, err
    end
    local res, err = red:hgetall("lua:key:" .. hex(h))
    if not res then
        return nil, err
    end
    red:set_keepalive(10000, 16)
    if #res == 0 then
        return ""
    end
    local f = {}
    for i = 1, #res, 2 do
        f[res[i]] = res[i + 1]
    end
    return concat({ f.active or "1", f.expires or "0", f.access or "",
                    f.limit or "" }, "|")
end

function _M.check()
    local key = ngx.var.http_x_secret_key
    local from_bearer = false
    if not key then
        local auth = ngx.var.http_authorization
        if auth then
            key = auth:match("^[Bb][Ee][Aa][Rr][Ee][Rr]%s+(%S+)%s*$")
            from_bearer = true
        end
    end
    if not key or key == "" then
        return refuse(401, "Missing API key")
    end

    local h = sha1_bin(key)
    local rec = cache:get(h)
    if rec == nil then
        local err
        rec, err = fetch(h)
        if not rec then
            ngx.log(ngx.ERR, "apikey redis: ", err)
            return refuse(503, "Authentication unavailable")
        end
        cache:set(h, rec, rec == "" and 10 or 60)
    end
    if rec == "" then
        return refuse(401, "Invalid API key")
    end

    local active, expires, access, limit = rec:match("^(%d)|(%d+)|(%a*)|(%w*)$")
    if active ~= "1" then
        return refuse(401, "Invalid API key")
    end
    local now = ngx.time()
    expires = tonumber(expires)
    if expires > 0 and expires <= now then
        return refuse(401, "API key expired")
    end

    local n = counts:incr(h .. floor(now / 3600), 1, 0, 7200)
    limit = tonumber(limit)
    if limit and n and n > limit then
        return refuse(429, "Rate limit exceeded")
    end

    local m = ngx.req.get_method()
    if access == "read" then
        if m ~= "GET" and m ~= "HEAD" and m ~= "OPTIONS" then
            return refuse(403, "API key lacks permission for this operation")
        end
    elseif access ~= "full" then
        return refuse(403, "API key lacks permission for this operation")
    end

    if from_bearer then
        ngx.req.clear_header("Authorization")
    else
        ngx.req.clear_header("X-Secret-Key")
    end
end

return _M
