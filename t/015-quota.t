# Cluster quotas held by leases (docs/limits.md): instances sharing one
# Redis never admit more than the limit between them, at any concurrency;
# with Redis away each admits its share; counts reach Redis exactly, across
# the turn of an hour, a reload and a killed syncing worker.  The second
# instance is started by the control server from a file this one writes.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
master_on();
workers(2);
worker_connections(1024);
no_shuffle();

our $HTTP = <<'_EOC_';
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    apikey_rate_limit_scope cluster;
_EOC_

our $CLOSED = $HTTP . "    apikey_rate_limit_offline closed;\n";

our $API = $ApikeyTest::API;

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

our $PORTS = ($ENV{TEST_NGINX_SERVER_PORT} || 1984) . ","
             . ($ENV{TEST_NGINX_SERVER_PORT2} || 1985);

our $K50 = ApikeyTest::make_key("FiFtY000000000000000000000000070");
our $K1000 = ApikeyTest::make_key("ThOuSaNd000000000000000000000071");
our $K10 = ApikeyTest::make_key("TeN00000000000000000000000000072");
our $HOUR = int(time() / 3600);

# an hour of the test clock, long past: its last second, then the next
our $H1 = $HOUR - 30;
our $T1 = $H1 * 3600 + 3599;

our $INIT = q{
    ApikeyTest::seed(keys => [
        [$::K50, id => 'q-50', access => 'full', limit => '50'],
        [$::K1000, id => 'q-1000', access => 'full', limit => '1000'],
        [$::K10, id => 'q-10', access => 'full', limit => '10']]);
};

sub k { "X-Secret-Key: $_[0]" }

sub usage { "GET /ctl/redis?a=GET&a=apikey:usage:$_[0]:" . ($_[1] // $HOUR) }

sub tally {
    my ($name, $id, $min, $max) = @_;
    return "GET /ctl/tally?name=$name&key=apikey:usage:$id:$HOUR"
           . "&min=$min&max=$max";
}

run_tests();

__DATA__

=== TEST 1: two instances, limit 50, 32 clients with no pause: 50 pass
--- timeout: 30
--- init eval: $::INIT
--- http_config eval: $::HTTP
--- config eval: $::API
--- user_files eval: $::SECOND
--- request eval
["GET /ctl/nginx2-start?conf=second.conf",
 "GET /ctl/tally-reset?name=t1",
 "GET /ctl/hammer?n=400&c=32&ports=$::PORTS&path=/api/x&key=$::K50&tally=t1",
 ::tally("t1", "q-50", 50, 52),
 "GET /ctl/nginx2-stop"]
--- response_body_like eval
["started", "reset", qr/^200=5[0-2] 429=\d+$/, "usage=tally", "stopped"]



=== TEST 2: two instances, limit 1000, 64 clients: within 1% + 1 each
--- timeout: 60
--- init eval: $::INIT
--- http_config eval: $::HTTP
--- config eval: $::API
--- user_files eval: $::SECOND
--- request eval
["GET /ctl/nginx2-start?conf=second.conf",
 "GET /ctl/tally-reset?name=t2",
 "GET /ctl/hammer?n=2400&c=64&ports=$::PORTS&path=/api/x&key=$::K1000&tally=t2",
 ::tally("t2", "q-1000", 991, 1012),
 "GET /ctl/nginx2-stop"]
--- response_body_like eval
["started", "reset", qr/^200=\d+ 429=\d+$/, "usage=tally", "stopped"]



=== TEST 3: Redis stopped mid-window: the two admit their shares, no more
q-1000's counts and lease of the blocks before must not carry: a fresh zone.
--- fresh_zone
--- timeout: 60
--- init eval: $::INIT
--- http_config eval: $::HTTP
--- config eval: $::API
--- user_files eval: $::SECOND
--- request eval
["GET /ctl/nginx2-start?conf=second.conf",
 "GET /ctl/tally-reset?name=t3",
 "GET /ctl/hammer?n=300&c=16&ports=$::PORTS&path=/api/x&key=$::K1000&tally=t3",
 "GET /ctl/sleep?sleep=2.5",
 "GET /ctl/redis-stop",
 "GET /ctl/hammer?n=2400&c=32&ports=$::PORTS&path=/api/x&key=$::K1000&tally=t3",
 "GET /status",
 "GET /ctl/redis-start",
 ::tally("t3", "q-1000", 950, 1002),
 "GET /ctl/nginx2-stop"]
--- response_body_like eval
["started", "reset", "^200=300\$", "", "stopped", qr/^200=\d+ 429=\d+$/,
 qr/"redis":"away","away_since":[1-9]\d*,"when_away":"share","instances":2,/,
 "started", "usage=tally", "stopped"]



=== TEST 4: Redis away, one instance: its lease, then its share, then 429
q-10's counts and lease of the blocks before must not carry: a fresh zone.
--- fresh_zone
--- timeout: 30
--- init eval: $::INIT
--- http_config eval: $::HTTP
--- config eval: $::API
--- request eval
["GET /api/x",
 "GET /ctl/sleep?sleep=0.3",
 "GET /ctl/redis-stop",
 "GET /api/x", "GET /api/x", "GET /api/x",
 "GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x",
 "GET /api/x",
 "GET /api/x",
 "GET /status",
 "GET /ctl/redis-start?sleep=2",
 ::usage("q-10"),
 "GET /status"]
--- more_headers eval
[::k($::K10), "", "", (::k($::K10)) x 10, "", "", "", ""]
--- error_code eval
[200, 200, 200, (200) x 9, 429, 200, 200, 200, 200]
--- response_body_like eval
["", "", "stopped", ("") x 10,
 qr/"redis":"away".*"admitted_away":6\}/, "started", "^10\$",
 qr/"redis":"shared"/]



=== TEST 5: apikey_rate_limit_offline closed: the lease only
q-10's counts and lease of the blocks before must not carry: a fresh zone.
--- fresh_zone
--- timeout: 30
--- init eval: $::INIT
--- http_config eval: $::CLOSED
--- config eval: $::API
--- request eval
["GET /api/x",
 "GET /ctl/sleep?sleep=0.3",
 "GET /ctl/redis-stop",
 "GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x",
 "GET /ctl/redis-start?sleep=2",
 ::usage("q-10")]
--- more_headers eval
[::k($::K10), "", "", (::k($::K10)) x 4, "", ""]
--- error_code eval
[200, 200, 200, 200, 200, 200, 429, 200, 200]
--- response_body_like eval
["", "", "stopped", "", "", "", "", "started", "^4\$"]



=== TEST 6: the turn of an hour: the last counts of the old hour are kept
--- timeout: 30
--- init eval: $::INIT
--- http_config eval: $::HTTP
--- config eval: $::API
--- request eval
["GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x",
 "GET /ctl/sleep?sleep=0.5",
 ::usage("q-10", $::H1), ::usage("q-10", $::H1 + 1)]
--- more_headers eval
[(::k($::K10) . "\r\nX-Apikey-Test-Now: $::T1") x 3,
 (::k($::K10) . "\r\nX-Apikey-Test-Now: " . ($::T1 + 1)) x 2, "", "", ""]
--- response_headers eval
["X-RateLimit-Remaining: 9", "X-RateLimit-Remaining: 8",
 "X-RateLimit-Remaining: 7", "X-RateLimit-Remaining: 9",
 "X-RateLimit-Remaining: 8", "", "", ""]
--- response_body_like eval
["", "", "", "", "", "", "^3\$", "^2\$"]



=== TEST 7: reload: the counts and the lease go on
--- timeout: 30
--- init eval: $::INIT
--- http_config eval: $::HTTP
--- config eval: $::API
--- request eval
["GET /api/x", "GET /api/x", "GET /api/x",
 "GET /ctl/nginx-signal?sig=HUP&sleep=1",
 "GET /api/x", "GET /api/x",
 "GET /ctl/sleep?sleep=0.5",
 ::usage("q-10")]
--- more_headers eval
[(::k($::K10)) x 3, "", (::k($::K10)) x 2, "", ""]
--- response_headers eval
["X-RateLimit-Remaining: 9", "X-RateLimit-Remaining: 8",
 "X-RateLimit-Remaining: 7", "", "X-RateLimit-Remaining: 6",
 "X-RateLimit-Remaining: 5", "", ""]
--- response_body_like eval
["", "", "", "signalled", "", "", "", "^5\$"]



=== TEST 8: the syncing worker killed under load: usage still exact
q-1000's counts and lease of the blocks before must not carry: a fresh zone.
--- fresh_zone
--- timeout: 60
--- init eval: $::INIT
--- http_config eval: $::HTTP
--- config eval: $::API
--- request eval
["GET /ctl/tally-reset?name=t8",
 "GET /ctl/hammer-bg?id=a&n=900&c=16&path=/api/x&key=$::K1000&tally=t8",
 "GET /ctl/sleep?sleep=0.2",
 "GET /ctl/kill-owner",
 "GET /ctl/hammer-wait?id=a",
 "GET /ctl/hammer?n=50&c=4&path=/api/x&key=$::K1000&tally=t8",
 ::tally("t8", "q-1000", 800, 1000)]
--- response_body_like eval
["reset", "running", "", "killed", qr/^(0=\d+ )?200=\d+( 429=\d+)?( 502=\d+)?$/,
 qr/^200=50$/, "usage=tally"]
--- no_error_log
exited on signal 11
exited on signal 6



=== TEST 9: apikey_rate_limit_offline refuses another value
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    apikey_rate_limit_offline sometimes;
--- config eval: $::API
--- must_die
--- error_log
invalid value "sometimes" in "apikey_rate_limit_offline" directive, it must be "share", "open" or "closed"



=== TEST 10: local scope stays local: other instances' usage does not count
--- timeout: 30
--- init eval: $::INIT
--- config eval: $::API
--- request eval
["GET /ctl/redis?a=SET&a=apikey:usage:q-10:$::HOUR&a=5",
 "GET /api/x",
 "GET /ctl/sleep?sleep=1.5",
 "GET /api/x",
 "GET /ctl/sleep?sleep=1.5",
 ::usage("q-10")]
--- more_headers eval
["", ::k($::K10), "", ::k($::K10), "", ""]
--- response_headers eval
["", "X-RateLimit-Remaining: 9", "", "X-RateLimit-Remaining: 8", "", ""]
--- response_body_like eval
["OK", "", "", "", "", "^7\$"]



=== TEST 11: an instance stops holding a lease: it is free again after 10 s
--- timeout: 90
--- init eval: $::INIT
--- http_config eval: $::HTTP
--- config eval: $::API
--- user_files eval: $::SECOND
--- request eval
["GET /ctl/nginx2-start?conf=second.conf",
 "GET /ctl/hammer?n=1&c=1&ports=" . ($ENV{TEST_NGINX_SERVER_PORT2} || 1985) . "&path=/api/x&key=$::K50",
 "GET /ctl/sleep?sleep=0.3",
 "GET /ctl/nginx2-stop",
 "GET /ctl/hammer?n=60&c=8&path=/api/x&key=$::K50",
 "GET /ctl/sleep?sleep=10",
 "GET /ctl/hammer?n=10&c=2&path=/api/x&key=$::K50",
 "GET /ctl/sleep?sleep=0.3",
 ::usage("q-50")]
--- response_body_like eval
["started", "^200=1\$", "", "stopped", "^200=46 429=14\$", "",
 "^200=3 429=7\$", "", "^50\$"]
