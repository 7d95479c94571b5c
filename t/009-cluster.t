# docs/limits.md, cluster scope: several nginx instances sharing one Redis
# share one count per key and hour.  The second instance is started by the
# control server from a configuration this file writes (--- user_files).
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
master_on();
workers(2);
no_shuffle();

our $HTTP = <<'_EOC_';
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    apikey_rate_limit_scope cluster;
_EOC_

our $API = $ApikeyTest::API;

# the same site on another port, same Redis, its own zone
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

our $K1000 = ApikeyTest::make_key("ThOuSaNd000000000000000000000060");
our $K10 = ApikeyTest::make_key("TeN00000000000000000000000000061");
our $HOUR = int(time() / 3600);

our $INIT = q{
    ApikeyTest::seed(keys => [
        [$::K1000, id => 'k-1000', access => 'full', limit => '1000'],
        [$::K10, id => 'k-10', access => 'full', limit => '10']]);
};

sub k { "X-Secret-Key: $_[0]" }

run_tests();

__DATA__

=== TEST 1: two instances, limit 1000/h, 4x that load: one shared quota
--- timeout: 10
--- init eval: $::INIT
--- http_config eval: $::HTTP
--- config eval: $::API
--- user_files eval: $::SECOND
--- request eval
["GET /ctl/nginx2-start?conf=second.conf",
 "GET /ctl/hammer?n=4000&c=16&ports=$::PORTS&path=/api/x&key=$::K1000",
 "GET /ctl/sleep?sleep=0.5",
 "GET /ctl/redis?a=GET&a=apikey:usage:k-1000:$::HOUR",
 "GET /ctl/nginx2-stop"]
--- response_body_like eval
["started", qr/^200=(99[1-9]|100\d|101[0-2]) 429=\d+$/, "", qr/^(99[1-9]|100\d|101[0-2])$/,
 "stopped"]
--- error_code eval
[200, 200, 200, 200, 200]



=== TEST 2: Redis away: counts go on locally, and reach Redis when it returns
--- timeout: 10
--- init eval: $::INIT
--- http_config eval: $::HTTP
--- config eval: $::API
--- request eval
["GET /api/x", "GET /api/x", "GET /api/x",
 "GET /ctl/sleep?sleep=0.3",
 "GET /ctl/redis-stop",
 "GET /api/x", "GET /api/x",
 "GET /ctl/redis-start?sleep=3",
 "GET /ctl/redis?a=GET&a=apikey:usage:k-10:$::HOUR",
 "GET /api/x"]
--- more_headers eval
[::k($::K10), ::k($::K10), ::k($::K10), "", "", ::k($::K10), ::k($::K10), "", "", ::k($::K10)]
--- response_headers eval
["X-RateLimit-Remaining: 9", "X-RateLimit-Remaining: 8", "X-RateLimit-Remaining: 7",
 "", "", "X-RateLimit-Remaining: 6", "X-RateLimit-Remaining: 5", "", "",
 "X-RateLimit-Remaining: 4"]
--- response_body_like eval
["", "", "", "", "stopped", "", "", "started", "^5\$", ""]
