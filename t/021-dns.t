# A Redis address written with a host name is resolved again, without
# blocking, through nginx's "resolver" when the module reconnects: the
# name is pointed at another Redis by a DNS server the suite controls
# (t/ctl/transport.py), and the first Redis goes away.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
master_on();
workers(1);
no_shuffle();

our $API = $ApikeyTest::API;

my $P = $ENV{TEST_NGINX_REDIS_PORT} || 16380;
$ENV{TEST_NGINX_DNS_REDIS_PORT} = $P + 18;
$ENV{TEST_NGINX_DNS_PORT} = $P + 19;

our $KEY = ApikeyTest::make_key('DnS00000000000000000000000000097');
our $DIGEST = ApikeyTest::digest($KEY);

run_tests();

__DATA__

=== TEST 1: the name is followed to another Redis on reconnect
--- timeout: 30
--- http_config
    resolver 127.0.0.1:$TEST_NGINX_DNS_PORT valid=1s ipv6=off;
    resolver_timeout 2s;
    apikey_zone keys:4m;
    apikey_redis localhost:$TEST_NGINX_DNS_REDIS_PORT;
--- init: ApikeyTest::ctl("tx-dns-start?digest=$::DIGEST")
--- config eval: $::API
--- request eval
["GET /ctl/tx-wait-status?want=200&key=$::KEY",
 "GET /status",
 "GET /ctl/tx-dns-switch",
 "GET /ctl/tx-wait-status?want=401&key=$::KEY",
 "GET /status"]
--- response_body_like eval
[qr/^200 after \d+ ms$/,
 qr/"redis_address":"127\.0\.0\.2:\d+"/,
 "switched",
 qr/^401 after \d+ ms$/,
 qr/"redis_address":"127\.0\.0\.3:\d+"/]
