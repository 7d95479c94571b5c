# docs/limits.md, limits over several windows: "20/s 1000/h" in a record's
# "limit" and in apikey_rate_limit, per-second token buckets, clock minutes
# and days, the window the headers report, Retry-After per refusing
# window, bad records and directives, and the daily count shared by two
# instances in cluster scope.  "X-Apikey-Test-Now: <unix seconds>[.<ms>]"
# stands in for the clock (a test build, see docs/testing.md).
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;
use File::Path qw(make_path);

apikey_setup();
no_shuffle();

our $API = <<'_EOC_';
    location /api/ {
        apikey on;
        add_header X-Remaining "$apikey_rate_remaining" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /burst/ {
        apikey on;
        apikey_rate_limit 2/s 50/h;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /quoted/ {
        apikey on;
        apikey_rate_limit "2/s 50/h";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
_EOC_

our $T = 1900000800;            # 2030-03-17 18:40:00 UTC, a minute's start
our $H = $T - $T % 3600;
our $D = $T - $T % 86400;

# name => [random part, limit]
our %W = (
    s3h100 => ['WiNdOwS3h100000000000000000000a1', '3/s 100/h'],
    s10h3  => ['WiNdOwS10h300000000000000000000a2', '10/s 3/h'],
    m2     => ['WiNdOwM200000000000000000000000a3', '2/m'],
    d2     => ['WiNdOwD200000000000000000000000a4', '2/d'],
    m2h2   => ['WiNdOwM2H20000000000000000000000a5', '2/m 2/h'],
    s100h5 => ['WiNdOwS100H5000000000000000000000a6', '100/s 5/h'],
    s1m10  => ['WiNdOwS1M100000000000000000000000a7', '1/s 10/m'],
    s1m1   => ['WiNdOwS1M10000000000000000000000a8', '1/s 1/m'],
    s2h3   => ['WiNdOwS2H30000000000000000000000a9', '2/s 3/h'],
    s2     => ['WiNdOwS20000000000000000000000000b1', '2/s'],
    d50    => ['WiNdOwD500000000000000000000000b2', '50/d'],
    hd     => ['WiNdOwHD0000000000000000000000000b3', '1000/s 40/h 1000/d'],
);

our %K = map { $_ => ApikeyTest::make_key($W{$_}[0]) } keys %W;

our $INIT = q{
    ApikeyTest::seed(keys => [map {
        [$::K{$_}, id => "k-$_", access => 'full', limit => $::W{$_}[1]]
    } sort keys %::W]);
};

sub at { my ($k, $t) = @_; "X-Secret-Key: $K{$k}\r\nX-Apikey-Test-Now: $t" }
sub full { my ($t) = @_; "X-Secret-Key: $ApikeyTest::KEY{full}\r\nX-Apikey-Test-Now: $t" }

# cluster scope: the same site on another port, same Redis, its own zone
our $HTTP = <<'_EOC_';
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    apikey_rate_limit_scope cluster;
_EOC_

our $SECOND = <<'_EOC_';
>>> second.conf
worker_processes 2;
daemon on;
pid logs/nginx.pid;
error_log logs/error.log info;
load_module $TEST_NGINX_APIKEY_MODULE;
events { worker_connections 1024; }
http {
    access_log off;
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    apikey_rate_limit_scope cluster;
    server {
        listen 127.0.0.1:$TEST_NGINX_SERVER_PORT2;
        location /api/ {
            apikey on;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT2/backend/;
        }
        location /backend/ { return 200 "second\n"; }
    }
}
_EOC_

our $P1 = $ENV{TEST_NGINX_SERVER_PORT} || 1984;
our $P2 = $ENV{TEST_NGINX_SERVER_PORT2} || 1985;
our $DAY = int(time() / 86400);
our $HOUR = int(time() / 3600);

our $DIR = ($ENV{TEST_NGINX_SERVROOT} || 't/servroot') . '-snap';
make_path($DIR);
unlink "$DIR/windows.snap";

sub esc { my ($s) = @_; $s =~ s/([^A-Za-z0-9\-_.~])/sprintf("%%%02X", ord $1)/ge; $s }
sub ctl { "GET /ctl/apikeyctl?" . join('&', map { "a=" . esc($_) } @_) }
sub send { my ($k) = @_; "GET /ctl/send?key=$k&method=GET&path=/api/x" }

sub hammer {
    my ($k, $n, $c, $ports) = @_;
    "GET /ctl/hammer?n=$n&c=$c&ports=$ports&path=/api/x&key=$K{$k}";
}

run_tests();

__DATA__

=== TEST 1: a burst is refused at the second, each response says so
--- fresh_zone
--- init eval: $::INIT
--- config eval: $::API
--- request eval
[("GET /api/x") x 4]
--- more_headers eval
[(::at("s3h100", "$::T.000")) x 4]
--- error_code eval
[200, 200, 200, 429]
--- response_headers eval
["X-RateLimit-Limit: 3\nX-RateLimit-Remaining: 2\nX-RateLimit-Used: 1\nX-RateLimit-Reset: " . ($::T + 1) . "\nX-Remaining: 2\n!Retry-After",
 "X-RateLimit-Limit: 3\nX-RateLimit-Remaining: 1\nX-RateLimit-Used: 2",
 "X-RateLimit-Limit: 3\nX-RateLimit-Remaining: 0\nX-RateLimit-Used: 3",
 "X-RateLimit-Limit: 3\nX-RateLimit-Remaining: 0\nRetry-After: 1\nContent-Type: application/json"]
--- response_body eval
["backend GET /backend/x x-secret-key=[] authorization=[]\n",
 "backend GET /backend/x x-secret-key=[] authorization=[]\n",
 "backend GET /backend/x x-secret-key=[] authorization=[]\n",
 '{"detail":"Rate limit exceeded"}']



=== TEST 2: a second's worth twice across a second's boundary is refused
Three at 18:40:00.999 empty the bucket; at 18:40:01.001 a clock window
would be new, the bucket has 2 ms of refill (6 thousandths of a request);
at 18:40:01.400, 0.4 s of it: one request.
--- fresh_zone
--- init eval: $::INIT
--- config eval: $::API
--- request eval
[("GET /api/x") x 6]
--- more_headers eval
[::at("s3h100", "$::T.999"), ::at("s3h100", "$::T.999"), ::at("s3h100", "$::T.999"),
 ::at("s3h100", ($::T + 1) . ".001"), ::at("s3h100", ($::T + 1) . ".400"),
 ::at("s3h100", ($::T + 1) . ".401")]
--- error_code eval
[200, 200, 200, 429, 200, 429]
--- response_headers eval
["", "", "X-RateLimit-Remaining: 0", "Retry-After: 1", "X-RateLimit-Limit: 3\nX-RateLimit-Remaining: 0",
 "Retry-After: 1"]



=== TEST 3: the hourly quota refuses too, and the headers then tell the hour
--- fresh_zone
--- init eval: $::INIT
--- config eval: $::API
--- request eval
[("GET /api/x") x 4]
--- more_headers eval
[::at("s10h3", $::T), ::at("s10h3", $::T + 1), ::at("s10h3", $::T + 2), ::at("s10h3", $::T + 3)]
--- error_code eval
[200, 200, 200, 429]
--- response_headers eval
["X-RateLimit-Limit: 3\nX-RateLimit-Remaining: 2\nX-RateLimit-Reset: " . ($::H + 3600),
 "X-RateLimit-Limit: 3\nX-RateLimit-Remaining: 1",
 "X-RateLimit-Limit: 3\nX-RateLimit-Remaining: 0\nX-RateLimit-Used: 3",
 "X-RateLimit-Limit: 3\nX-RateLimit-Remaining: 0\nX-RateLimit-Reset: " . ($::H + 3600) . "\nRetry-After: " . ($::H + 3600 - $::T - 3)]



=== TEST 4: a minute window is a UTC clock minute
--- fresh_zone
--- init eval: $::INIT
--- config eval: $::API
--- request eval
[("GET /api/x") x 5]
--- more_headers eval
[::at("m2", $::T + 58), ::at("m2", $::T + 59), ::at("m2", $::T + 59),
 ::at("m2", $::T + 60), ::at("m2", $::T + 61)]
--- error_code eval
[200, 200, 429, 200, 200]
--- response_headers eval
["X-RateLimit-Limit: 2\nX-RateLimit-Remaining: 1\nX-RateLimit-Reset: " . ($::T + 60),
 "X-RateLimit-Remaining: 0",
 "X-RateLimit-Remaining: 0\nX-RateLimit-Reset: " . ($::T + 60) . "\nRetry-After: 1",
 "X-RateLimit-Remaining: 1\nX-RateLimit-Reset: " . ($::T + 120),
 "X-RateLimit-Remaining: 0"]



=== TEST 5: a day window is a UTC day
--- fresh_zone
--- init eval: $::INIT
--- config eval: $::API
--- request eval
[("GET /api/x") x 4]
--- more_headers eval
[::at("d2", $::D + 86397), ::at("d2", $::D + 86398), ::at("d2", $::D + 86398),
 ::at("d2", $::D + 86400)]
--- error_code eval
[200, 200, 429, 200]
--- response_headers eval
["X-RateLimit-Limit: 2\nX-RateLimit-Remaining: 1\nX-RateLimit-Reset: " . ($::D + 86400),
 "X-RateLimit-Remaining: 0",
 "X-RateLimit-Reset: " . ($::D + 86400) . "\nRetry-After: 2",
 "X-RateLimit-Remaining: 1\nX-RateLimit-Reset: " . ($::D + 2 * 86400)]



=== TEST 6: the headers tell the window with the lowest remaining / limit
100/s and 5/h: after one request 99/100 are left of the second, 4/5 of the
hour: the hour.  2/m and 2/h: 1/2 of each, a tie, goes to the longer; at
the next minute the minute has 2/2 and the hour 0/2: the hour refuses.
--- fresh_zone
--- init eval: $::INIT
--- config eval: $::API
--- request eval
[("GET /api/x") x 5]
--- more_headers eval
[::at("s100h5", $::T), ::at("m2h2", $::T), ::at("m2h2", $::T + 1),
 ::at("m2h2", $::T + 2), ::at("m2h2", $::T + 60)]
--- error_code eval
[200, 200, 200, 429, 429]
--- response_headers eval
["X-RateLimit-Limit: 5\nX-RateLimit-Remaining: 4\nX-RateLimit-Reset: " . ($::H + 3600),
 "X-RateLimit-Limit: 2\nX-RateLimit-Remaining: 1\nX-RateLimit-Reset: " . ($::H + 3600),
 "X-RateLimit-Remaining: 0\nX-RateLimit-Reset: " . ($::H + 3600),
 "Retry-After: " . ($::H + 3600 - $::T - 2),
 "X-RateLimit-Remaining: 0\nRetry-After: " . ($::H + 3600 - $::T - 60)]



=== TEST 7: Retry-After is the wait of the window that refused
1/s 10/m: the second refuses, 1 s.  1/s 1/m: both refuse half a second
later, the minute's wait is the longer (60 s); 2 s later only the minute.
--- fresh_zone
--- init eval: $::INIT
--- config eval: $::API
--- request eval
[("GET /api/x") x 6]
--- more_headers eval
[::at("s1m10", "$::T.000"), ::at("s1m10", "$::T.500"),
 ::at("s1m1", "$::T.000"), ::at("s1m1", "$::T.500"), ::at("s1m1", ($::T + 2) . ".000"),
 ::at("s1m10", ($::T + 2) . ".000")]
--- error_code eval
[200, 429, 200, 429, 429, 200]
--- response_headers eval
["", "X-RateLimit-Limit: 1\nRetry-After: 1",
 "", "X-RateLimit-Limit: 1\nX-RateLimit-Reset: " . ($::T + 60) . "\nRetry-After: 60",
 "X-RateLimit-Limit: 1\nX-RateLimit-Reset: " . ($::T + 60) . "\nRetry-After: 58",
 "X-RateLimit-Limit: 1\nX-RateLimit-Remaining: 0"]



=== TEST 8: a refused request counts in no window
2/s 3/h: the third request of a second is refused by the second; had it
counted in the hour, the request a second later would be refused.
--- fresh_zone
--- init eval: $::INIT
--- config eval: $::API
--- request eval
[("GET /api/x") x 5]
--- more_headers eval
[::at("s2h3", $::T), ::at("s2h3", $::T), ::at("s2h3", $::T),
 ::at("s2h3", $::T + 1), ::at("s2h3", $::T + 2)]
--- error_code eval
[200, 200, 429, 200, 429]
--- response_headers eval
["", "", "Retry-After: 1", "X-RateLimit-Limit: 3\nX-RateLimit-Remaining: 0",
 "Retry-After: " . ($::H + 3600 - $::T - 2)]



=== TEST 9: a per-second limit alone: no hourly limit
--- fresh_zone
--- init eval: $::INIT
--- config eval: $::API
--- request eval
[("GET /api/x") x 6]
--- more_headers eval
[::at("s2", $::T), ::at("s2", $::T), ::at("s2", $::T), ::at("s2", $::T + 1),
 ::at("s2", $::T + 1), ::at("s2", $::T + 2)]
--- error_code eval
[200, 200, 429, 200, 200, 200]
--- response_headers eval
["X-RateLimit-Limit: 2\nX-RateLimit-Remaining: 1", "X-RateLimit-Remaining: 0",
 "Retry-After: 1", "X-RateLimit-Remaining: 1", "X-RateLimit-Remaining: 0",
 "X-RateLimit-Limit: 2"]



=== TEST 10: the location's default takes several windows, in one argument or more
--- fresh_zone
--- init eval: $::INIT
--- config eval: $::API
--- request eval
[("GET /burst/x") x 3, ("GET /quoted/x") x 3]
--- more_headers eval
[(::full($::T)) x 3, (::full($::T + 10)) x 3]
--- error_code eval
[200, 200, 429, 200, 200, 429]
--- response_headers eval
["X-RateLimit-Limit: 2\nX-RateLimit-Remaining: 1", "", "Retry-After: 1",
 "X-RateLimit-Limit: 2\nX-RateLimit-Remaining: 1", "", "Retry-After: 1"]



=== TEST 11: a record with a bad "limit" is skipped, naming its id
--- init
ApikeyTest::seed(keys => [
    map { [ApikeyTest::make_key("BaDwInDoW$_->[0]00000000000000000000c$_->[0]"),
           id => "k-bad$_->[0]", access => 'full', limit => $_->[1]] }
    [1, '5/x'], [2, '5/s 6/s'], [3, '2000000/s'], [4, '10 5/h'],
    [5, '5/s,10/h'], [6, ''], [7, '/s'], [8, '5/sec'], [9, 'unlimited 5/s']]);
--- config eval: $::API
--- more_headers eval
"X-Secret-Key: " . ApikeyTest::make_key("BaDwInDoW200000000000000000000c2")
--- request
GET /api/x
--- error_code: 401
--- error_log eval
[map { qr/skipped the record with id "k-bad$_": "limit" is not a number or "unlimited" or terms such as "20\/s 1000\/h"/ } 1 .. 9]



=== TEST 12: a good record of many windows is loaded (the bad ones' neighbours)
--- init
ApikeyTest::seed(keys => [[ApikeyTest::make_key("GoOdWiNdOwS0000000000000000000d1"),
    id => 'k-good', access => 'full', limit => '  1000000/s 5/m  9/h 9/d ']]);
--- config eval: $::API
--- more_headers eval
"X-Secret-Key: " . ApikeyTest::make_key("GoOdWiNdOwS0000000000000000000d1") . "\r\nX-Apikey-Test-Now: $::T"
--- request
GET /api/x
--- error_code: 200
--- response_headers
X-RateLimit-Limit: 5
X-RateLimit-Remaining: 4



=== TEST 13: apikey_rate_limit: a unit twice
--- config
    location /api/ { apikey on; apikey_rate_limit 20/s 30/s; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "30/s" in "apikey_rate_limit" directive



=== TEST 14: apikey_rate_limit: twice across quoted terms
--- config
    location /api/ { apikey on; apikey_rate_limit "20/s 5/h" 5/h; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "5/h" in "apikey_rate_limit" directive



=== TEST 15: apikey_rate_limit: an unknown unit
--- config
    location /api/ { apikey on; apikey_rate_limit 5/w; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "5/w" in "apikey_rate_limit" directive, it must be one or more of "N/s"



=== TEST 16: apikey_rate_limit: a per-second limit over its bound
--- config
    location /api/ { apikey on; apikey_rate_limit 1000001/s; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "1000001/s" in "apikey_rate_limit" directive



=== TEST 17: apikey_rate_limit: zero in any window
--- config
    location /api/ { apikey on; apikey_rate_limit 10/h 0/s; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "0/s" in "apikey_rate_limit" directive



=== TEST 18: apikey_rate_limit: a bare number among terms
--- config
    location /api/ { apikey on; apikey_rate_limit "20/s 100"; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "20/s 100" in "apikey_rate_limit" directive



=== TEST 19: apikey_rate_limit: "off" among terms
--- config
    location /api/ { apikey on; apikey_rate_limit 20/s off; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "off" in "apikey_rate_limit" directive



=== TEST 20: cluster scope: two instances share the daily count
Instance 1 admits 30 of 50/d; instance 2, told the total by its first
report, admits 19 more after its first; then instance 1, idle for more
than a second, confirms the total before it admits anything: nothing.
--- timeout: 20
--- init eval: $::INIT
--- http_config eval: $::HTTP
--- config eval: $ApikeyTest::API
--- user_files eval: $::SECOND
--- request eval
["GET /ctl/nginx2-start?conf=second.conf",
 ::hammer("d50", 30, 1, $::P1),
 "GET /ctl/sleep?sleep=0.3",
 ::hammer("d50", 1, 1, $::P2),
 "GET /ctl/sleep?sleep=0.3",
 ::hammer("d50", 30, 1, $::P2),
 "GET /ctl/sleep?sleep=1.2",
 ::hammer("d50", 10, 2, $::P1),
 "GET /ctl/sleep?sleep=0.3",
 "GET /ctl/redis?a=GET&a=apikey:usage:k-d50:day:$::DAY",
 "GET /ctl/nginx2-stop"]
--- response_body_like eval
["started", "^200=30\$", "", "^200=1\$", "", "^200=19 429=11\$", "", "^429=10\$", "",
 "^50\$", "stopped"]



=== TEST 21: cluster scope: the hour's leases and the day, under load on two instances
1000/s 40/h 1000/d: the hour's shared quota holds with the other windows,
and the day's usage in Redis is what was admitted.
--- timeout: 20
--- init eval: $::INIT
--- http_config eval: $::HTTP
--- config eval: $ApikeyTest::API
--- user_files eval: $::SECOND
--- request eval
["GET /ctl/nginx2-start?conf=second.conf",
 ::hammer("hd", 200, 8, "$::P1,$::P2"),
 "GET /ctl/sleep?sleep=0.5",
 "GET /ctl/redis?a=GET&a=apikey:usage:k-hd:$::HOUR",
 "GET /ctl/redis?a=GET&a=apikey:usage:k-hd:day:$::DAY",
 "GET /ctl/nginx2-stop"]
--- response_body_like eval
["started", qr/^200=(4[0-2]) 429=(1[56]\d)$/, "", qr/^(4[0-2])$/, qr/^(4[0-2])$/, "stopped"]



=== TEST 22: the snapshot keeps the windows of each record...
The snapshot is written after a first full load: a fresh zone.
--- fresh_zone
--- init eval: $::INIT
--- http_config eval
$ApikeyTest::HTTP_CONFIG . "apikey_snapshot $::DIR/windows.snap;"
--- config eval: $::API
--- request eval
["GET /api/x", "GET /ctl/sleep?sleep=0.5"]
--- more_headers eval
[::at("s3h100", $::T), ""]
--- error_code eval
[200, 200]



=== TEST 23: ... which an nginx started without Redis enforces
--- fresh_zone
--- init: 1
--- http_config eval
"apikey_zone keys:4m; apikey_redis 127.0.0.1:1; apikey_snapshot $::DIR/windows.snap;"
--- config eval: $::API
--- request eval
[("GET /api/x") x 4, "GET /api/x"]
--- more_headers eval
[(::at("s3h100", "$::T.000")) x 4, ::at("d2", $::T)]
--- error_code eval
[200, 200, 200, 429, 200]
--- response_headers eval
["X-RateLimit-Limit: 3\nX-RateLimit-Remaining: 2", "", "", "Retry-After: 1",
 "X-RateLimit-Limit: 2\nX-RateLimit-Remaining: 1\nX-RateLimit-Reset: " . ($::D + 86400)]



=== TEST 24: apikeyctl create and update --limit with terms, end to end
--- timeout: 10
--- config eval: $::API
--- request eval
[::ctl('create', '--id', 'e2e-win', '--limit', '1000/h 2/s') . "&save=win&sleep=0.1",
 ::send("win"), ::send("win"), ::send("win"),
 ::ctl('update', 'e2e-win', '--limit', '50/s') . "&sleep=0.2",
 ::send("win"), ::send("win"), ::send("win")]
--- response_body_like eval
["exit=0", "^200 ", "^200 ", "^429 ", "exit=0", "^200 ", "^200 ", "^200 "]
