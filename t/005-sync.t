# SPEC section 4, "Sync": events, full re-syncs, Redis outages, reloads,
# and the zone-size guard.  Changes to Redis are made between requests
# through the control server (t/ctl/ctl.py) behind /ctl/.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
no_shuffle();

our $API = <<'_EOC_';
    location /api/ {
        apikey on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
_EOC_

sub k { "X-Secret-Key: $ApikeyTest::KEY{$_[0]}" }
sub d { ApikeyTest::digest($ApikeyTest::KEY{$_[0]}) }
sub uri_escape {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9\-_.~])/sprintf("%%%02X", ord $1)/ge;
    return $s;
}
sub redis_url { "GET /ctl/redis?" . join('&', map { "a=" . uri_escape($_) } @_) }

our $NEW = ApikeyTest::make_key("NeWkEy00000000000000000000000030");

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
--- config eval: $::API
--- request eval
["GET /api/x",
 ::redis_url("HSET", "apikey:key:" . ::d("full"), "access", "superuser"),
 ::redis_url("PUBLISH", "apikey:events", ::d("full")) . "&sleep=0.1",
 "GET /api/x"]
--- more_headers eval
[::k("full"), "", "", ::k("full")]
--- error_code eval
[200, 200, 200, 401]
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
--- wait: 0.2
--- error_log eval
[qr/apikey: .*(redis|Redis).*(lost|closed|refused|failed|error)/]



=== TEST 8: a zone too small for the keys: an error naming it, never a half set
--- init
ApikeyTest::seed();
ApikeyTest::redis('EVAL', q{
    for i = 1, 6000 do
        redis.call('HSET', 'apikey:key:' .. string.format('%064x', i),
                   'id', 'bulk-' .. i, 'owner', 'bulk', 'access', 'full',
                   'name', string.rep('n', 200))
    end
    return 1
}, 0);
--- http_config
    apikey_zone small:256k;
    apikey_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
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
--- http_config
    apikey_zone small:256k;
    apikey_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config eval: $::API
--- request eval
["GET /api/x",
 "GET /ctl/redis?a=EVAL&a=" . ::uri_escape(q{for i = 1, 6000 do redis.call('HSET', 'apikey:key:' .. string.format('%064x', i), 'id', 'bulk-' .. i, 'access', 'full', 'name', string.rep('n', 200)) end return 1}) . "&a=0",
 ::redis_url("HSET", "apikey:key:" . ::d("read"), "active", "0"),
 ::redis_url("PUBLISH", "apikey:events", "*") . "&sleep=1",
 "GET /api/x", "GET /api/x"]
--- more_headers eval
[::k("full"), "", "", "", ::k("full"), ::k("read")]
--- error_code eval
[200, 200, 200, 200, 200, 200]
--- error_log
zone "small" is too small
