# docs/limits.md, apikey_ratelimit_headers: X-RateLimit-* (with
# X-RateLimit-Used), the IETF draft's RateLimit-Policy and RateLimit
# structured fields, both, or none; Retry-After on a 429 in every case.
# "X-Apikey-Test-Now" stands in for the clock (a test build).
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
no_shuffle();

our $API = <<'_EOC_';
    location /x/ {
        apikey on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /ietf/ {
        apikey on;
        apikey_ratelimit_headers ietf;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /both/ {
        apikey on;
        apikey_ratelimit_headers both;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /off/ {
        apikey on;
        apikey_ratelimit_headers off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
_EOC_

our $T = 1900000800 + 2400;     # 2030-03-17 19:20:00 UTC
our $H = $T - $T % 3600;        # 19:00:00, its hour ends in 2400 s
our $LEFT = $H + 3600 - $T;

our $KS = ApikeyTest::make_key("HeAdErSs3H1000000000000000000e1");
our $KD = ApikeyTest::make_key("HeAdErSm5D10000000000000000000e2");

our $INIT = q{
    ApikeyTest::seed(keys => [
        [$::KS, id => 'k-s3h1000', access => 'full', limit => '3/s 1000/h'],
        [$::KD, id => 'k-m5d1000', access => 'full', limit => '1000/d 5/m']]);
};

sub at { my ($k, $t) = @_; "X-Secret-Key: $k\r\nX-Apikey-Test-Now: $t" }

# one RFC 9651 List of Items, each a String with Integer parameters
our $SF_ITEM = q{"[!#-\[\]-~ ]*"(?:;[a-z*][a-z0-9_.*-]*=-?[0-9]{1,15})*};
our $SF_LIST = qr/^$SF_ITEM(?:, $SF_ITEM)*$/;

# a raw header block must have exactly one line of a field, matching $SF_LIST
sub field_once {
    my ($name) = @_;
    qr/(?msi)\A(?!.*^\Q$name\E:.*^\Q$name\E:).*^\Q$name\E: $SF_ITEM(?:, $SF_ITEM)*\r$/;
}

run_tests();

__DATA__

=== TEST 1: x (the default): X-RateLimit-* with X-RateLimit-Used, no IETF fields
--- fresh_zone
--- init eval: $::INIT
--- config eval: $::API
--- request eval
["GET /x/a", "GET /x/a"]
--- more_headers eval
[::at($::KS, $::T), ::at($::KS, $::T)]
--- error_code eval
[200, 200]
--- response_headers eval
["X-RateLimit-Limit: 3\nX-RateLimit-Remaining: 2\nX-RateLimit-Used: 1\nX-RateLimit-Reset: " . ($::T + 1) . "\n!RateLimit\n!RateLimit-Policy",
 "X-RateLimit-Limit: 3\nX-RateLimit-Remaining: 1\nX-RateLimit-Used: 2\n!RateLimit\n!RateLimit-Policy"]



=== TEST 2: ietf: every window in RateLimit-Policy, the closest in RateLimit
--- fresh_zone
--- init eval: $::INIT
--- config eval: $::API
--- request eval
["GET /ietf/a", "GET /ietf/a"]
--- more_headers eval
[::at($::KS, $::T), ::at($::KD, $::T + 10)]
--- error_code eval
[200, 200]
--- response_headers eval
["RateLimit-Policy: \"1s\";q=3;w=1, \"1h\";q=1000;w=3600\nRateLimit: \"1s\";r=2;t=1\n!X-RateLimit-Limit\n!X-RateLimit-Remaining\n!X-RateLimit-Reset\n!X-RateLimit-Used",
 "RateLimit-Policy: \"1m\";q=5;w=60, \"1d\";q=1000;w=86400\nRateLimit: \"1m\";r=4;t=50\n!X-RateLimit-Limit"]
--- raw_response_headers_like eval
[::field_once("RateLimit-Policy"), ::field_once("RateLimit")]



=== TEST 3: ietf, an hourly limit: "1h";r=...;t= the seconds left in the hour
--- fresh_zone
--- init eval: $::INIT
--- config eval: $::API
--- request eval
["GET /ietf/a", "GET /ietf/a", "GET /ietf/a", "GET /ietf/a"]
--- more_headers eval
[(::at($ApikeyTest::KEY{quota3}, $::T)) x 4]
--- error_code eval
[200, 200, 200, 429]
--- response_headers eval
["RateLimit-Policy: \"1h\";q=3;w=3600\nRateLimit: \"1h\";r=2;t=$::LEFT\n!Retry-After",
 "RateLimit: \"1h\";r=1;t=$::LEFT",
 "RateLimit: \"1h\";r=0;t=$::LEFT",
 "RateLimit-Policy: \"1h\";q=3;w=3600\nRateLimit: \"1h\";r=0;t=$::LEFT\nRetry-After: $::LEFT\n!X-RateLimit-Remaining"]



=== TEST 4: ietf, a 429 of the second: t is the Retry-After of the window that refused
--- fresh_zone
--- init eval: $::INIT
--- config eval: $::API
--- request eval
[("GET /ietf/a") x 4]
--- more_headers eval
[(::at($::KS, "$::T.000")) x 4]
--- error_code eval
[200, 200, 200, 429]
--- response_headers eval
["RateLimit: \"1s\";r=2;t=1", "RateLimit: \"1s\";r=1;t=1", "RateLimit: \"1s\";r=0;t=1",
 "RateLimit-Policy: \"1s\";q=3;w=1, \"1h\";q=1000;w=3600\nRateLimit: \"1s\";r=0;t=1\nRetry-After: 1"]



=== TEST 5: both: the two styles side by side, telling the same window
--- fresh_zone
--- init eval: $::INIT
--- config eval: $::API
--- request
GET /both/a
--- more_headers eval
::at($::KD, $::T)
--- error_code: 200
--- response_headers eval
"RateLimit-Policy: \"1m\";q=5;w=60, \"1d\";q=1000;w=86400\nRateLimit: \"1m\";r=4;t=60\nX-RateLimit-Limit: 5\nX-RateLimit-Remaining: 4\nX-RateLimit-Used: 1\nX-RateLimit-Reset: " . ($::T + 60)
--- raw_response_headers_like eval
::field_once("RateLimit")



=== TEST 6: off: none of them, but a 429 keeps Retry-After
--- fresh_zone
--- init eval: $::INIT
--- config eval: $::API
--- request eval
[("GET /off/a") x 4]
--- more_headers eval
[(::at($::KS, "$::T.000")) x 4]
--- error_code eval
[200, 200, 200, 429]
--- response_headers eval
[("!X-RateLimit-Limit\n!X-RateLimit-Remaining\n!X-RateLimit-Reset\n!X-RateLimit-Used\n!RateLimit\n!RateLimit-Policy\n!Retry-After") x 3,
 "!X-RateLimit-Limit\n!RateLimit\n!RateLimit-Policy\nRetry-After: 1"]



=== TEST 7: keys without a limit get none of them, whatever the style
--- config eval: $::API
--- request eval
["GET /ietf/a", "GET /both/a"]
--- more_headers eval
[(::at($ApikeyTest::KEY{full}, $::T)) x 2]
--- error_code eval
[200, 200]
--- response_headers eval
[("!RateLimit\n!RateLimit-Policy\n!X-RateLimit-Limit") x 2]



=== TEST 8: inherited from http and server, overridden in a location
--- http_config eval: $ApikeyTest::HTTP_CONFIG . "apikey_ratelimit_headers ietf;"
--- config
    location /api/ {
        apikey on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /x/ {
        apikey on;
        apikey_ratelimit_headers x;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request eval
["GET /api/a", "GET /x/a"]
--- more_headers eval
[(::at($ApikeyTest::KEY{quota3}, $::T)) x 2]
--- error_code eval
[200, 200]
--- response_headers eval
["RateLimit: \"1h\";r=2;t=$::LEFT\n!X-RateLimit-Limit",
 "X-RateLimit-Remaining: 1\n!RateLimit"]



=== TEST 9: a bad value
--- config
    location /api/ { apikey on; apikey_ratelimit_headers draft; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "draft" in "apikey_ratelimit_headers" directive
