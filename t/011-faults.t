# Faults under load: Redis crashing and coming back, reloads, a Redis that
# is slow, answers garbage or nothing.  The load runs in the control server
# (t/ctl/ctl.py) while the block's requests cause the faults; it reports
# the statuses it saw per key and its slowest answer.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
master_on();
workers(2);
no_shuffle();

our $API = $ApikeyTest::API;

sub d { ApikeyTest::digest($ApikeyTest::KEY{$_[0]}) }

# the fake Redis servers' ports: the suite's Redis port + 2 and + 3, so
# that suites run side by side on other ports do not meet
$ENV{TEST_NGINX_FAKE_REDIS_PORT} ||= ($ENV{TEST_NGINX_REDIS_PORT} || 16380) + 2;
$ENV{TEST_NGINX_FAKE_REDIS_PORT2} ||= $ENV{TEST_NGINX_FAKE_REDIS_PORT} + 1;

# the read key is revoked (and the nginx knows it) before any fault
our $INIT = q{
    ApikeyTest::seed();
    ApikeyTest::redis('HSET', 'apikey:key:' . ::d('read'), 'active', '0');
    ApikeyTest::redis('PUBLISH', 'apikey:events', ::d('read'));
    select(undef, undef, undef, 0.2);
};

our $LOAD = "GET /ctl/load-start?path=/api/x&c=4"
            . "&key=valid:$ApikeyTest::KEY{full}"
            . "&key=revoked:$ApikeyTest::KEY{read}";

run_tests();

__DATA__

=== TEST 1: Redis crashes and restarts under load: valid keys pass, revoked ones never
--- timeout: 15
--- init eval: $::INIT
--- config eval: $::API
--- request eval
[$::LOAD,
 "GET /ctl/sleep?sleep=0.5",
 "GET /ctl/redis-kill",
 "GET /ctl/sleep?sleep=1",
 "GET /ctl/redis-start",
 "GET /ctl/sleep?sleep=2",
 "GET /ctl/load-stop"]
--- response_body_like eval
["load started", "", "killed", "", "started", "",
 qr/^revoked:401=\d+ valid:200=\d+ max_ms=\d+$/]



=== TEST 2: reloads under load: no failed request
--- timeout: 15
--- init eval: $::INIT
--- config eval: $::API
--- request eval
[$::LOAD,
 "GET /ctl/nginx-signal?sig=HUP&sleep=0.7",
 "GET /ctl/nginx-signal?sig=HUP&sleep=0.7",
 "GET /ctl/nginx-signal?sig=HUP&sleep=0.7",
 "GET /ctl/load-stop"]
--- response_body_like eval
["load started", "", "", "", qr/^revoked:401=\d+ valid:200=\d+ max_ms=\d+$/]
--- no_error_log
exited on signal



=== TEST 3: hourly counts go on across reloads
--- init
ApikeyTest::seed(keys => [[ApikeyTest::make_key("ReLoAdCoUnT000000000000000000070"),
    id => 'k-reload', access => 'full', limit => '8']]);
--- config eval: $::API
--- request eval
["GET /api/x", "GET /api/x", "GET /api/x",
 "GET /ctl/nginx-signal?sig=HUP&sleep=0.7",
 "GET /api/x", "GET /api/x",
 "GET /ctl/nginx-signal?sig=HUP&sleep=0.7",
 "GET /api/x"]
--- more_headers eval
[("X-Secret-Key: " . ApikeyTest::make_key("ReLoAdCoUnT000000000000000000070")) x 3, "",
 ("X-Secret-Key: " . ApikeyTest::make_key("ReLoAdCoUnT000000000000000000070")) x 2, "",
 "X-Secret-Key: " . ApikeyTest::make_key("ReLoAdCoUnT000000000000000000070")]
--- response_headers eval
["X-RateLimit-Remaining: 7", "X-RateLimit-Remaining: 6", "X-RateLimit-Remaining: 5", "",
 "X-RateLimit-Remaining: 4", "X-RateLimit-Remaining: 3", "",
 "X-RateLimit-Remaining: 2"]
--- no_error_log
exited on signal



=== TEST 4: a Redis that stalls (DEBUG SLEEP) never stalls a request
--- timeout: 20
--- init eval: $::INIT
--- config eval: $::API
--- request eval
[$::LOAD,
 "GET /ctl/sleep?sleep=0.3",
 "GET /ctl/redis-stall?seconds=3",
 "GET /ctl/sleep?sleep=1.5",
 "GET /ctl/load-stop",
 "GET /ctl/sleep?sleep=2",
 "GET /ctl/redis?a=HSET&a=apikey:key:" . ::d('full') . "&a=active&a=0",
 "GET /ctl/redis?a=PUBLISH&a=apikey:events&a=" . ::d('full') . "&sleep=0.2",
 "GET /api/x"]
--- more_headers eval
["", "", "", "", "", "", "", "", "X-Secret-Key: $ApikeyTest::KEY{full}"]
--- error_code eval
[200, 200, 200, 200, 200, 200, 200, 200, 401]
--- response_body_like eval
["load started", "", "stalled", "",
 qr/^revoked:401=\d+ valid:200=\d+ max_ms=([0-9]{1,2}|[1-4][0-9]{2})$/,
 "", "", "", "Invalid"]



=== TEST 5: ... a Redis that stays stalled is dropped, and reconnected to
--- timeout: 20
--- init eval: $::INIT
--- config eval: $::API
--- request eval
["GET /ctl/redis-stall?seconds=11&sleep=11"]
--- wait: 1
--- error_log eval
[qr/apikey.*redis.*(timed out|timeout)/]



=== TEST 6: a server answering garbage: nginx starts, answers 503 at once, keeps trying
A start with no usable Redis, the mirror never loaded: a fresh zone.
--- fresh_zone
--- timeout: 10
--- init: 1
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_FAKE_REDIS_PORT;
--- config eval: $::API
--- request eval
["GET /ctl/fake-redis-start?port=$ENV{TEST_NGINX_FAKE_REDIS_PORT}&mode=garbage&sleep=1.5",
 "GET /api/x", "GET /status", "GET /ctl/fake-redis-stop"]
--- more_headers eval
["", "X-Secret-Key: $ApikeyTest::KEY{full}", "", ""]
--- error_code eval
[200, 503, 200, 200]
--- response_body_like eval
["started", "unavailable", qr/"loaded":false.*"reconnects":[1-9]/, "stopped"]



=== TEST 7: a server that never answers: requests are not held
A start with no usable Redis, the mirror never loaded: a fresh zone.
--- fresh_zone
--- timeout: 15
--- init: 1
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_FAKE_REDIS_PORT2;
--- config eval: $::API
--- request eval
["GET /ctl/fake-redis-start?port=$ENV{TEST_NGINX_FAKE_REDIS_PORT2}&mode=silent&sleep=0.5",
 "GET /api/x", "GET /ctl/sleep?sleep=6", "GET /api/x", "GET /status",
 "GET /ctl/fake-redis-stop"]
--- more_headers eval
["", "X-Secret-Key: $ApikeyTest::KEY{full}", "", "X-Secret-Key: $ApikeyTest::KEY{full}", "", ""]
--- error_code eval
[200, 503, 200, 503, 200, 200]
--- response_body_like eval
["started", "unavailable", "", "unavailable", qr/"reconnects":[1-9]/, "stopped"]
