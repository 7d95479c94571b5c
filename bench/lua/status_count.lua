-- wrk script for bench/quota.sh: counts the answers by status over all
-- threads, and the 429s answered before the last 200 of the run (while
-- the quota was not spent yet: false refusals, up to the skew between
-- the instances' clocks, which are one machine's here).  Prints
-- "STATUS <200s> <429s> <others> <last 200, us> <429 times...>" for the
-- caller to merge with the other wrk processes of the run.
local ffi = require("ffi")

ffi.cdef[[
    typedef struct { long tv_sec; long tv_usec; } timeval_t;
    int gettimeofday(timeval_t *tv, void *tz);
]]

local tv = ffi.new("timeval_t")

local function now_us()
    ffi.C.gettimeofday(tv, nil)
    return tonumber(tv.tv_sec) * 1000000 + tonumber(tv.tv_usec)
end

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    ok, limited, other, last_ok, refused_at = 0, 0, 0, 0, {}
end

function response(status, headers, body)
    if status == 200 then
        ok = ok + 1
        last_ok = now_us()
    elseif status == 429 then
        limited = limited + 1
        -- only the first ones can come before the last 200
        if #refused_at < 5000 then
            refused_at[#refused_at + 1] = now_us()
        end
    else
        other = other + 1
    end
end

function done(summary, latency, requests)
    local o, l, x, last = 0, 0, 0, 0
    local times = {}
    for _, t in ipairs(threads) do
        o = o + t:get("ok")
        l = l + t:get("limited")
        x = x + t:get("other")
        last = math.max(last, t:get("last_ok"))
        for _, v in ipairs(t:get("refused_at")) do
            times[#times + 1] = string.format("%d", v)
        end
    end
    io.write(string.format("STATUS %d %d %d %d %s\n", o, l, x, last,
                           table.concat(times, " ")))
end
