# Process life: reloads keep the mirror, and the sync moves to another
# worker when the syncing one dies.  Runs with a master and two workers.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
master_on();
workers(2);
no_shuffle();

our $API = $ApikeyTest::API;

sub k { "X-Secret-Key: $ApikeyTest::KEY{$_[0]}" }
sub d { ApikeyTest::digest($ApikeyTest::KEY{$_[0]}) }
sub redis_url { ApikeyTest::redis_url(@_) }


run_tests();

__DATA__

=== TEST 1: a reload keeps the mirror, even with Redis away
--- config eval: $::API
--- request eval
["GET /api/x",
 "GET /ctl/redis-stop",
 "GET /ctl/nginx-signal?sig=HUP&sleep=0.5",
 "GET /api/x",
 "GET /ctl/redis-start"]
--- more_headers eval
[::k("full"), "", "", ::k("full"), ""]
--- error_code eval
[200, 200, 200, 200, 200]
--- no_error_log
exited on signal



=== TEST 2: SIGKILL of the syncing worker: another worker syncs within a second
--- init
ApikeyTest::seed();
ApikeyTest::kill_sync_worker();
select(undef, undef, undef, 1.0);
--- config eval: $::API
--- request eval
[::redis_url("HSET", "apikey:key:" . ::d("full"), "active", "0"),
 ::redis_url("PUBLISH", "apikey:events", ::d("full")) . "&sleep=0.1",
 "GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x"]
--- more_headers eval
["", "", ::k("full"), ::k("full"), ::k("full"), ::k("full")]
--- error_code eval
[200, 200, 401, 401, 401, 401]
--- response_body eval
["1\n", "1\n",
 '{"detail":"Invalid API key"}', '{"detail":"Invalid API key"}',
 '{"detail":"Invalid API key"}', '{"detail":"Invalid API key"}']



=== TEST 3: a re-sync whose worker dies before its end leaves nothing staged behind
--- init
# The test build holds a re-sync that read the record "apikey-test-hold"
# at its end, with 3002 records staged: 1000 new keys, 2000 changed, "full"
# revoked and the hold record.  The new keys are deleted from Redis, then
# the worker is killed: their staged nodes are the only trace of them, and
# the next syncing worker must sweep them away (a test build aborts a
# worker whose load ends with a stale or staged node left).
ApikeyTest::seed();
ApikeyTest::redis('EVAL', $ApikeyTest::BULK, 0, 1, 3000, 'one');
ApikeyTest::resync();
ApikeyTest::redis('EVAL', $ApikeyTest::BULK, 0, 1, 2000, 'two');
ApikeyTest::redis('EVAL', $ApikeyTest::BULK, 0, 3001, 4000, 'new');
ApikeyTest::redis('HSET', 'apikey:key:' . ::d('full'), 'active', '0');
ApikeyTest::redis('HSET', 'apikey:key:' . ('f' x 64), 'id', 'apikey-test-hold',
                  'access', 'full');
ApikeyTest::redis('PUBLISH', 'apikey:events', '*');
select(undef, undef, undef, 0.5);
ApikeyTest::redis('EVAL', $ApikeyTest::BULK, 0, 3001, 4000, '');
ApikeyTest::redis('DEL', 'apikey:key:' . ('f' x 64));
ApikeyTest::kill_sync_worker();
select(undef, undef, undef, 1.5);
ApikeyTest::resync();
--- config eval: $::API
--- request
GET /status
--- response_body_like: "keys":3010,.*"state":"synced"
--- error_log
full load held with 3002 records staged



=== TEST 4: hourly counters survive a reload
--- config eval: $::API
--- request eval
["GET /api/x", "GET /api/x", "GET /ctl/nginx-signal?sig=HUP&sleep=0.5", "GET /api/x", "GET /api/x"]
--- more_headers eval
[::k("quota3"), ::k("quota3"), "", ::k("quota3"), ::k("quota3")]
--- error_code eval
[200, 200, 200, 200, 429]
--- no_error_log
exited on signal



=== TEST 5: limit N, two workers, many concurrent requests: exactly N pass
--- init
ApikeyTest::seed(keys => [[ApikeyTest::make_key("FiFtY000000000000000000000000050"),
    id => 'k-fifty', access => 'full', limit => '50']]);
--- config eval: $::API
--- request eval
"GET /ctl/hammer?n=400&c=16&path=/api/x&key=" . ApikeyTest::make_key("FiFtY000000000000000000000000050")
--- response_body
200=50 429=350
