-- wrk script of bench/run.sh: every request carries a key drawn at random
-- from a file of real keys (one a line), in X-Secret-Key, so that lookups
-- touch the whole key table instead of one cached entry.
--
--   wrk ... -s randkey.lua URL -- KEYFILE

local keys = {}

function init(args)
    for line in io.lines(args[1]) do
        keys[#keys + 1] = line
    end
    math.randomseed(12345)
end

function request()
    return wrk.format("GET", "/api/ok.txt",
                      { ["X-Secret-Key"] = keys[math.random(#keys)] })
end
