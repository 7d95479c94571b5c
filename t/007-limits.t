# docs/limits.md, local scope: hourly windows, the X-RateLimit-* headers,
# Retry-After, which limit applies, and what is counted.  The suite's
# module is a test build: "X-Apikey-Test-Now: <unix time>" stands in for
# the clock of the windows (see docs/testing.md).
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
no_shuffle();

our $API = <<'_EOC_';
    location /api/ {
        apikey on;
        add_header X-Remaining "$apikey_rate_remaining" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /other/ {
        apikey on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /default2/ {
        apikey on;
        apikey_rate_limit 2/h;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
_EOC_

# an hour boundary: windows are UTC clock hours
our $T = 1900000800;            # 2030-03-17 18:40:00 UTC
our $H = $T - $T % 3600;

sub k { "X-Secret-Key: $ApikeyTest::KEY{$_[0]}" }
sub at { my ($k, $t) = @_; k($k) . "\r\nX-Apikey-Test-Now: $t" }

run_tests();

__DATA__

=== TEST 1: a record's limit: headers count down, then 429 with Retry-After
--- config eval: $::API
--- request eval
["GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x"]
--- more_headers eval
[(::at("quota3", $::T)) x 4]
--- error_code eval
[200, 200, 200, 429]
--- response_headers eval
["X-RateLimit-Limit: 3\nX-RateLimit-Remaining: 2\nX-RateLimit-Reset: " . ($::H + 3600) . "\nX-Remaining: 2\n!Retry-After",
 "X-RateLimit-Limit: 3\nX-RateLimit-Remaining: 1\nX-Remaining: 1",
 "X-RateLimit-Limit: 3\nX-RateLimit-Remaining: 0\nX-Remaining: 0",
 "X-RateLimit-Limit: 3\nX-RateLimit-Remaining: 0\nX-RateLimit-Reset: " . ($::H + 3600) . "\nRetry-After: " . ($::H + 3600 - $::T) . "\nContent-Type: application/json"]
--- response_body eval
["backend GET /backend/x x-secret-key=[] authorization=[]\n",
 "backend GET /backend/x x-secret-key=[] authorization=[]\n",
 "backend GET /backend/x x-secret-key=[] authorization=[]\n",
 '{"detail":"Rate limit exceeded"}']



=== TEST 2: the next clock hour is a new window
quota3's count of TEST 1 in the window of $H must not carry: a fresh zone
--- fresh_zone
--- config eval: $::API
--- request eval
["GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x"]
--- more_headers eval
[::at("quota3", $::H + 3599), ::at("quota3", $::H + 3599), ::at("quota3", $::H + 3599),
 ::at("quota3", $::H + 3599), ::at("quota3", $::H + 3600), ::at("quota3", $::H + 3601)]
--- error_code eval
[200, 200, 200, 429, 200, 200]
--- response_headers eval
["X-RateLimit-Remaining: 2", "X-RateLimit-Remaining: 1", "X-RateLimit-Remaining: 0",
 "Retry-After: 1", "X-RateLimit-Remaining: 2\nX-RateLimit-Reset: " . ($::H + 7200),
 "X-RateLimit-Remaining: 1"]



=== TEST 3: one count per key, whatever location it hits
--- config eval: $::API
--- request eval
["GET /api/x", "GET /other/x", "GET /default2/x", "GET /other/x"]
--- more_headers eval
[(::at("quota3", $::T)) x 4]
--- error_code eval
[200, 200, 200, 429]



=== TEST 4: the location's default applies to records without a limit
--- config eval: $::API
--- request eval
["GET /default2/x", "GET /default2/x", "GET /default2/x", "GET /api/x"]
--- more_headers eval
[(::at("full", $::T)) x 4]
--- error_code eval
[200, 200, 429, 200]
--- response_headers eval
["X-RateLimit-Limit: 2\nX-RateLimit-Remaining: 1", "X-RateLimit-Remaining: 0",
 "Retry-After: " . ($::H + 3600 - $::T), "!X-RateLimit-Limit\n!X-Remaining"]



=== TEST 5: a record's limit applies where the location's default is off
quota3's counts of the blocks before must not carry: a fresh zone
--- fresh_zone
--- config eval: $::API
--- request eval
["GET /other/x", "GET /other/x", "GET /other/x", "GET /other/x"]
--- more_headers eval
[(::at("quota3", $::T)) x 4]
--- error_code eval
[200, 200, 200, 429]



=== TEST 6: "unlimited" wins over the location's default; no headers
--- config eval: $::API
--- request eval
["GET /default2/x", "GET /default2/x", "GET /default2/x", "GET /default2/x"]
--- more_headers eval
[(::at("unlimited", $::T)) x 4]
--- error_code eval
[200, 200, 200, 200]
--- response_headers eval
[("!X-RateLimit-Limit\n!X-RateLimit-Remaining\n!X-RateLimit-Reset") x 4]



=== TEST 7: the 403 of step 8 is counted and carries the headers
--- config eval: $::API
--- request eval
["POST /default2/x", "GET /default2/x", "GET /default2/x"]
--- more_headers eval
[(::at("read", $::T)) x 3]
--- error_code eval
[403, 200, 429]
--- response_headers eval
["X-RateLimit-Limit: 2\nX-RateLimit-Remaining: 1", "X-RateLimit-Remaining: 0",
 "X-RateLimit-Remaining: 0"]



=== TEST 8: refusals before step 7 are not counted and have no headers
--- config eval: $::API
--- request eval
["GET /default2/x", "GET /default2/x", "GET /default2/x"]
--- more_headers eval
[::at("expired", $::T), ::at("ipdeny", $::T), ::at("inactive", $::T)]
--- error_code eval
[401, 403, 401]
--- response_headers eval
[("!X-RateLimit-Limit") x 3]



=== TEST 9: a limit of 0 allows nothing
--- init
ApikeyTest::seed(keys => [[ApikeyTest::make_key("ZeRo0000000000000000000000000040"),
    id => 'k-zero', access => 'full', limit => '0']]);
--- config eval: $::API
--- more_headers eval
"X-Secret-Key: " . ApikeyTest::make_key("ZeRo0000000000000000000000000040")
--- request
GET /api/x
--- error_code: 429
--- response_headers
X-RateLimit-Limit: 0
X-RateLimit-Remaining: 0



=== TEST 10: a bad limit in the record is a schema error, not "no limit"
--- init
ApikeyTest::seed(keys => [[ApikeyTest::make_key("BaDLiMiT000000000000000000000041"),
    id => 'k-badlimit', access => 'full', limit => 'lots']]);
--- config eval: $::API
--- more_headers eval
"X-Secret-Key: " . ApikeyTest::make_key("BaDLiMiT000000000000000000000041")
--- request
GET /api/x
--- error_code: 401
--- error_log
skipped the record with id "k-badlimit": "limit" is not a number or "unlimited"



=== TEST 11: the request that reaches 90% of a key's quota says so, once
keys_near_limit counts since the zone was made: a fresh zone
--- fresh_zone
--- init
ApikeyTest::seed(keys => [[ApikeyTest::make_key("TeNpErHoUr00000000000000000000042"),
    id => 'k-ten', access => 'full', limit => '10']]);
--- config eval: $::API
--- request eval
[("GET /api/x") x 10, "GET /status"]
--- more_headers eval
[("X-Secret-Key: " . ApikeyTest::make_key("TeNpErHoUr00000000000000000000042")) x 10, ""]
--- response_body_like eval
[("backend") x 10, qr/"keys_near_limit":1,/]



=== TEST 12: ... in the error log, naming the key's id
--- init
ApikeyTest::seed(keys => [[ApikeyTest::make_key("OnE00000000000000000000000000043"),
    id => 'k-one', access => 'full', limit => '1']]);
--- config eval: $::API
--- more_headers eval
"X-Secret-Key: " . ApikeyTest::make_key("OnE00000000000000000000000000043")
--- request
GET /api/x
--- error_code: 200
--- error_log
apikey: key "k-one" has used 90% of its hourly limit of 1
