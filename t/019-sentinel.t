# Redis Sentinel: the master asked from the sentinels and verified with
# ROLE, and followed across a failover under load: no valid key refused,
# a key revoked on the new master refused soon after the promotion, the
# status showing the new address.  The group (a master, a replica, three
# sentinels) is started by t/ctl/transport.py on ports that follow the
# suite's Redis port.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
master_on();
workers(2);
no_shuffle();

our $API = $ApikeyTest::API;

my $P = $ENV{TEST_NGINX_REDIS_PORT} || 16380;
$ENV{TEST_NGINX_SENTINEL_MASTER_PORT} = $P + 10;
$ENV{TEST_NGINX_SENTINELS} = join ',', map { '127.0.0.1:' . ($P + $_) }
                             12 .. 14;

our $GONE = ApikeyTest::make_key('GoNe0000000000000000000000000099');

# a fresh group, the keys written to its master, and the module synced
sub init_group {
    ApikeyTest::ctl('tx-sentinel-start');
    local $ApikeyTest::REDIS_PORT = $ENV{TEST_NGINX_SENTINEL_MASTER_PORT};
    ApikeyTest::seed(keys => [[$GONE, id => 'k-gone', access => 'full']]);
}

our $FAILOVER = "GET /ctl/tx-sentinel-failover?key=$GONE&digest="
                . ApikeyTest::digest($GONE);

our $LOAD = "GET /ctl/load-start?path=/api/x&c=4"
            . "&key=valid:$ApikeyTest::KEY{full}"
            . "&key=read:$ApikeyTest::KEY{read}";

run_tests();

__DATA__

=== TEST 1: the master comes from the sentinels; the status shows it
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:6379 sentinel=$TEST_NGINX_SENTINELS
                 master=apikeymaster;
--- init: ::init_group()
--- config eval: $::API
--- request eval
["GET /api/x", "GET /status"]
--- more_headers eval
["X-Secret-Key: $ApikeyTest::KEY{full}", ""]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^backend GET/,
 qr/"redis_address":"127\.0\.0\.1:$ENV{TEST_NGINX_SENTINEL_MASTER_PORT}"/]



=== TEST 2: the master killed under load: no valid key refused, a key
revoked on the new master refused within a second of the switch, and the
status shows the new master
--- timeout: 40
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:6379 sentinel=$TEST_NGINX_SENTINELS
                 master=apikeymaster;
--- init: ::init_group()
--- config eval: $::API
--- request eval
[$::LOAD,
 "GET /ctl/sleep?sleep=0.3",
 $::FAILOVER,
 "GET /ctl/sleep?sleep=0.3",
 "GET /ctl/load-stop",
 "GET /status"]
--- response_body_like eval
["load started", "",
 qr/^switched to \d+ after \d+ ms; refused [0-9]\d{0,2} ms after the switch/,
 "",
 qr/^read:200=\d+ valid:200=\d+ max_ms=\d+$/,
 qr/"redis_address":"127\.0\.0\.1:(?!$ENV{TEST_NGINX_SENTINEL_MASTER_PORT}")\d+"/]



=== TEST 3: sentinel= needs master=
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:6379 sentinel=$TEST_NGINX_SENTINELS;
--- config eval: $::API
--- must_die
--- error_log
"sentinel=" and "master=" go together



=== TEST 4: a bad sentinel address
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:6379 sentinel=127.0.0.1:26379,:x master=m;
--- config eval: $::API
--- must_die
--- error_log
invalid sentinel ":x"



=== TEST 5: apikeyctl --sentinel --master: the key goes to the master
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:6379 sentinel=$TEST_NGINX_SENTINELS
                 master=apikeymaster;
--- init: ::init_group()
--- config eval: $::API
--- request eval
"GET /ctl/tx-apikeyctl?a=--sentinel&a=$ENV{TEST_NGINX_SENTINELS}&a=--master&a=apikeymaster&a=create&a=--id&a=k-ctl-sentinel"
--- response_body
exit=0 200
