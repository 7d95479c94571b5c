# docs/keys.md, the sync: events, full re-syncs, Redis outages, reloads,
# and the zone-size guard.  Changes to Redis are made between requests
# through the control server (t/ctl/ctl.py) behind /ctl/.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
no_shuffle();

our $API = $ApikeyTest::API;

sub k { "X-Secret-Key: $ApikeyTest::KEY{$_[0]}" }
sub d { ApikeyTest::digest($ApikeyTest::KEY{$_[0]}) }
sub redis_url { ApikeyTest::redis_url(@_) }

our $NEW = ApikeyTest::make_key("NeWkEy00000000000000000000000030");

# Records under the prefix "small:" are there before any nginx starts (a
# block's --- init runs after the start): more than a 256k zone holds.
ApikeyTest::redis('EVAL', q{
    for i = 1, 6000 do
        redis.call('HSET', 'small:key:' .. string.format('%064x', i),
                   'id', 'bulk-' .. i, 'owner', 'bulk', 'access', 'full',
                   'name', string.rep('n', 200))
    end
    return 1
}, 0);
ApikeyTest::redis('HSET', 'small:key:' . d('full'), 'id', 'k-full',
                  'access', 'full');

# The standard keys fit a 256k zone; then 6000 more arrive with a change to
# an existing key, and the re-sync they ask for cannot fit them.
our $BULK_INIT = q{
    ApikeyTest::seed();
    ApikeyTest::redis('EVAL', q{
        for i = 1, 6000 do
            redis.call('HSET', 'apikey:key:' .. string.format('%064x', i),
                       'id', 'bulk-' .. i, 'access', 'full',
                       'name', string.rep('n', 200))
        end
        return 1
    }, 0);
    ApikeyTest::redis('HSET', 'apikey:key:' . ::d("read"), 'active', '0');
    ApikeyTest::redis('PUBLISH', 'apikey:events', '*');
    select(undef, undef, undef, 1);
};


# 3000 more keys; then one re-sync finds 2001 of the keys changed (many
# steps of promotion) and 1001 deleted (many steps of the sweep)
our $MANY_INIT = q{
    ApikeyTest::seed();
    ApikeyTest::redis('EVAL', $ApikeyTest::BULK, 0, 1, 3000, 'one');
    ApikeyTest::resync();
};

our $MANY_CHANGES = q{
    ApikeyTest::redis('EVAL', $ApikeyTest::BULK, 0, 1, 1000, '');
    ApikeyTest::redis('EVAL', $ApikeyTest::BULK, 0, 1001, 3000, 'two');
    ApikeyTest::redis('HSET', 'apikey:key:' . ::d('full'), 'active', '0');
    ApikeyTest::redis('DEL', 'apikey:key:' . ::d('read'));
};

our $HOLD = 'apikey:key:' . ('f' x 64);

run_tests();

__DATA__

=== TEST 1: revocation reaches the workers by PUBLISH, within 100 ms
--- config eval: $::API
--- request eval
["GET /api/x",
 ::redis_url("HSET", "apikey:key:" . ::d("full"), "active", "0"),
 "GET /api/x",
 ::redis_url("PUBLISH", "apikey:events", ::d("full")) . "&sleep=0.1",
 "GET /api/x"]
--- more_headers eval
[::k("full"), "", ::k("full"), "", ::k("full")]
--- error_code eval
[200, 200, 200, 200, 401]



=== TEST 2: a deleted key is gone after its event
--- config eval: $::API
--- request eval
["GET /api/x",
 ::redis_url("DEL", "apikey:key:" . ::d("read")),
 ::redis_url("PUBLISH", "apikey:events", ::d("read")) . "&sleep=0.1",
 "GET /api/x"]
--- more_headers eval
[::k("read"), "", "", ::k("read")]
--- error_code eval
[200, 200, 200, 401]



=== TEST 3: a new key works after its event
--- config eval: $::API
--- request eval
["GET /api/x",
 ::redis_url("HSET", "apikey:key:" . ApikeyTest::digest($::NEW), "id", "k-new", "access", "full"),
 ::redis_url("PUBLISH", "apikey:events", ApikeyTest::digest($::NEW)) . "&sleep=0.1",
 "GET /api/x"]
--- more_headers eval
["X-Secret-Key: $::NEW", "", "", "X-Secret-Key: $::NEW"]
--- error_code eval
[401, 200, 200, 200]



=== TEST 4: a record changed to break the schema is refused after its event
--- init
ApikeyTest::seed();
ApikeyTest::redis('HSET', 'apikey:key:' . ::d("full"), 'access', 'superuser');
ApikeyTest::redis('PUBLISH', 'apikey:events', ::d("full"));
select(undef, undef, undef, 0.2);
--- config eval: $::API
--- more_headers eval
::k("full")
--- request
GET /api/x
--- error_code: 401
--- error_log
skipped the record with id "k-full": unknown "access"



=== TEST 5: "*" asks for a full re-sync
--- config eval: $::API
--- request eval
["GET /api/x",
 ::redis_url("HSET", "apikey:key:" . ::d("full"), "access", "read"),
 ::redis_url("DEL", "apikey:key:" . ::d("read")),
 ::redis_url("PUBLISH", "apikey:events", "*") . "&sleep=0.3",
 "POST /api/x", "GET /api/x"]
--- more_headers eval
[::k("full"), "", "", "", ::k("full"), ::k("read")]
--- error_code eval
[200, 200, 200, 200, 403, 401]



=== TEST 6: a change made without an event is healed by the periodic re-sync
--- http_config eval: $ApikeyTest::HTTP_CONFIG . "apikey_sync_interval 1s;"
--- config eval: $::API
--- request eval
["GET /api/x",
 ::redis_url("HSET", "apikey:key:" . ::d("full"), "active", "0"),
 "GET /api/x",
 "GET /ctl/sleep?sleep=1.6",
 "GET /api/x"]
--- more_headers eval
[::k("full"), "", ::k("full"), "", ::k("full")]
--- error_code eval
[200, 200, 200, 200, 401]



=== TEST 7: Redis stopped: decisions go on from the mirror; started: sync resumes
--- config eval: $::API
--- request eval
["GET /api/x",
 "GET /ctl/redis-stop",
 "GET /api/x", "GET /api/x",
 "GET /ctl/redis-start?sleep=0.1",
 ::redis_url("HSET", "apikey:key:" . ::d("full"), "active", "0"),
 "GET /ctl/sleep?sleep=2",
 ::redis_url("PUBLISH", "apikey:events", ::d("full")) . "&sleep=0.2",
 "GET /api/x", "GET /api/x"]
--- more_headers eval
[::k("full"), "", ::k("full"), ::k("read"), "", "", "", "", ::k("full"), ::k("read")]
--- error_code eval
[200, 200, 200, 200, 200, 200, 200, 200, 401, 200]



=== TEST 8: a zone too small for the keys: an error naming it, never a half set
--- init: 1
--- http_config
    apikey_zone small:256k;
    apikey_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=small:;
--- config eval: $::API
--- request eval
["GET /api/x"]
--- more_headers eval
[::k("full")]
--- error_code eval
[503]
--- error_log
zone "small" is too small



=== TEST 9: a zone too small at a re-sync keeps serving the last complete set
--- init eval: $::BULK_INIT
--- http_config
    apikey_zone small:256k;
    apikey_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config eval: $::API
--- request eval
["GET /api/x", "GET /api/x"]
--- more_headers eval
[::k("full"), ::k("read")]
--- error_code eval
[200, 200]



=== TEST 10: ... and says so, naming the zone
--- init eval: $::BULK_INIT
--- http_config
    apikey_zone small:256k;
    apikey_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config eval: $::API
--- more_headers eval
::k("full")
--- request
GET /api/x
--- error_code: 200
--- error_log
zone "small" is too small



=== TEST 11: a lost Redis is said once in the error log; decisions go on
--- init
ApikeyTest::seed();
ApikeyTest::ctl('redis-stop');
select(undef, undef, undef, 0.3);
--- config eval: $::API
--- more_headers eval
::k("full")
--- request
GET /api/x
--- error_code: 200
--- error_log eval
[qr/\[error\].*apikey.*redis/i]



=== TEST 12: "*" removes a key deleted without an event, every other key unchanged
--- config eval: $::API
--- request eval
["GET /api/x",
 ::redis_url("DEL", "apikey:key:" . ::d("read")),
 "GET /api/x",
 ::redis_url("PUBLISH", "apikey:events", "*") . "&sleep=0.3",
 "GET /api/x", "GET /api/x", "GET /status"]
--- more_headers eval
[::k("read"), "", ::k("read"), "", ::k("read"), ::k("full"), ""]
--- error_code eval
[200, 200, 200, 200, 401, 200, 200]
--- response_body_like eval
["backend", "1", "backend", "1", "Invalid API key", "backend",
 qr/"keys":9,/]



=== TEST 13: "*" with thousands of keys changed and deleted: each change and removal applies
--- init eval: $::MANY_INIT
--- config eval: $::API
--- request eval
["GET /status",
 ::redis_url("EVAL", $ApikeyTest::BULK, 0, 1, 1000, ""),
 ::redis_url("EVAL", $ApikeyTest::BULK, 0, 1001, 3000, "two"),
 ::redis_url("HSET", "apikey:key:" . ::d("full"), "active", "0"),
 ::redis_url("DEL", "apikey:key:" . ::d("read")),
 ::redis_url("PUBLISH", "apikey:events", "*") . "&sleep=0.5",
 "GET /api/x", "GET /api/x", "GET /api/x", "GET /status"]
--- more_headers eval
["", "", "", "", "", "", ::k("full"), ::k("read"), ::k("future"), ""]
--- error_code eval
[200, 200, 200, 200, 200, 200, 401, 401, 200, 200]
--- response_body_like eval
[qr/"keys":3010,/, "", "", "", "", "", "Invalid API key", "Invalid API key",
 "backend", qr/"keys":2009,.*"state":"synced"/]



=== TEST 14: ... and the re-sync counts exactly what it changed and removed
--- init eval: $::MANY_INIT . $::MANY_CHANGES . 'ApikeyTest::resync();'
--- config eval: $::API
--- request
GET /status
--- response_body_like: "keys":2009,
--- error_log eval
[qr/full sync of 2009 keys in \d+ ms: 2001 changed, 1001 removed, 4 skipped/]



=== TEST 15: a re-sync's changes stay invisible until its end; an event goes first
The test build holds a re-sync that read the record "apikey-test-hold" at
its end, before any change becomes visible.
--- config eval: $::API
--- request eval
["GET /api/x",
 ::redis_url("HSET", "apikey:key:" . ::d("full"), "active", "0"),
 ::redis_url("HSET", "apikey:key:" . ::d("read"), "access", "full"),
 ::redis_url("HSET", $::HOLD, "id", "apikey-test-hold", "access", "full"),
 ::redis_url("PUBLISH", "apikey:events", "*") . "&sleep=0.3",
 "GET /api/x", "POST /api/x", "GET /status",
 ::redis_url("PUBLISH", "apikey:events", ::d("full")) . "&sleep=0.1",
 "GET /api/x", "POST /api/x",
 ::redis_url("DEL", $::HOLD)]
--- more_headers eval
[::k("full"), "", "", "", "", ::k("full"), ::k("read"), "", "", ::k("full"),
 ::k("read"), ""]
--- error_code eval
[200, 200, 200, 200, 200, 200, 403, 200, 200, 401, 403, 200]
--- response_body_like eval
["backend", "", "", "", "", "backend", "lacks permission",
 qr/"state":"loading"/, "", "Invalid API key", "lacks permission", ""]
