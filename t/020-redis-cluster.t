# Redis Cluster: the schema in one slot (a hash tag in the prefix), the
# node that serves it found with CLUSTER NODES, MOVED followed after the
# slot was migrated, and ASK (a migration under way) waited out while the
# mirror keeps deciding; the cluster scope's quota script, whose keys
# share the slot.  Three masters, started by t/ctl/transport.py on
# ports that follow the suite's Redis port.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
master_on();
workers(2);
no_shuffle();

our $API = $ApikeyTest::API;

my $P = $ENV{TEST_NGINX_REDIS_PORT} || 16380;
my @NODES = map { $P + $_ } 15 .. 17;

ApikeyTest::ctl('tx-cluster-start');

# the node that serves the slot of "{apikey}"
sub owner {
    local $ApikeyTest::REDIS_PORT = $NODES[0];
    my $slot = ApikeyTest::redis('CLUSTER', 'KEYSLOT', 'apikey');
    for my $r (@{ ApikeyTest::redis('CLUSTER', 'SLOTS') }) {
        return $r->[2][1] if $r->[0] <= $slot && $slot <= $r->[1];
    }
    die "no owner of slot $slot";
}

# the module is pointed at a node that does not serve the slot
$ENV{TEST_NGINX_CLUSTER_NODE} = (grep { $_ != owner() } @NODES)[0];

our $GONE = ApikeyTest::make_key('GoNe0000000000000000000000000098');

sub seed_cluster {
    local $ApikeyTest::REDIS_PORT = owner();
    local $ApikeyTest::PREFIX = '{apikey}:';
    ApikeyTest::seed(keys => [[$GONE, id => 'k-gone', access => 'full']]);
}

our $HTTP = <<'_EOC_';
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_CLUSTER_NODE cluster
                 "prefix={apikey}:";
_EOC_

our $REVOKE = "key=$GONE&digest=" . ApikeyTest::digest($GONE)
              . "&prefix=%7Bapikey%7D%3A";

our $LOAD = "GET /ctl/load-start?path=/api/x&c=2"
            . "&key=valid:$ApikeyTest::KEY{full}";

run_tests();

__DATA__

=== TEST 1: the node that serves the slot is found; keys load from it
--- http_config eval: $::HTTP
--- init: ::seed_cluster()
--- config eval: $::API
--- request eval
["GET /api/x", "GET /api/x", "GET /status"]
--- more_headers eval
["X-Secret-Key: $ApikeyTest::KEY{full}",
 "X-Secret-Key: $ApikeyTest::KEY{inactive}", ""]
--- error_code eval
[200, 401, 200]
--- response_body_like eval
[qr/^backend GET/, qr/"detail"/,
 qr/"state":"synced".*"redis_address":"127\.0\.0\.1:(?!$ENV{TEST_NGINX_CLUSTER_NODE}")\d+"/]



=== TEST 2: a revocation reaches the mirror
--- http_config eval: $::HTTP
--- init: ::seed_cluster()
--- config eval: $::API
--- request eval
"GET /ctl/tx-cluster-revoke?$::REVOKE"
--- response_body_like: ^refused after \d+ ms$



=== TEST 3: the slot migrated to another node (MOVED): a revocation still
reaches the mirror, valid keys still pass, the status shows the new node
--- timeout: 30
--- http_config eval: $::HTTP
--- init: ::seed_cluster()
--- config eval: $::API
--- request eval
[$::LOAD,
 "GET /ctl/tx-cluster-migrate?step=whole",
 "GET /ctl/tx-cluster-revoke?$::REVOKE",
 "GET /ctl/load-stop",
 "GET /status",
 "GET /ctl/tx-cluster-owner"]
--- response_body_like eval
["load started", qr/^slot \d+ of \d+ to \d+$/, qr/^refused after \d+ ms$/,
 qr/^valid:200=\d+ max_ms=\d+$/, qr/"redis_address":"127\.0\.0\.1:(\d+)"/,
 qr/^\d+$/]



=== TEST 4: a migration under way (ASK): valid keys pass meanwhile, and a
key revoked and moved during it is refused once it ends
--- timeout: 30
--- http_config eval: $::HTTP
--- init: ::seed_cluster()
--- config eval: $::API
--- request eval
[$::LOAD,
 "GET /ctl/tx-cluster-ask-revoke?$::REVOKE",
 "GET /ctl/load-stop"]
--- response_body_like eval
["load started",
 qr/^during the migration 200; refused \d+ ms after its end$/,
 qr/^valid:200=\d+ max_ms=\d+$/]



=== TEST 5: cluster without a hash tag in the prefix is refused
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:6379 cluster prefix=apikey:;
--- config eval: $::API
--- must_die
--- error_log
"cluster" needs a hash tag in "prefix=", such as "prefix={apikey}:", so that every key of the schema is in one slot of the cluster (the prefix is "apikey:")



=== TEST 6: an empty hash tag does not count
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:6379 cluster "prefix={}apikey:";
--- config eval: $::API
--- must_die
--- error_log
"cluster" needs a hash tag



=== TEST 7: apikeyctl --cluster, pointed at a node that does not serve the
slot: the key goes to the one that does
--- http_config eval: $::HTTP
--- init: ::seed_cluster()
--- config eval: $::API
--- request eval
"GET /ctl/tx-apikeyctl?a=--redis&a=127.0.0.1:$ENV{TEST_NGINX_CLUSTER_NODE}&a=--cluster&a=--prefix&a=%7Bapikey%7D%3A&a=create&a=--id&a=k-ctl-cluster"
--- response_body
exit=0 200



=== TEST 8: apikeyctl --cluster without a hash tag
--- http_config eval: $::HTTP
--- init: ::seed_cluster()
--- config eval: $::API
--- request eval
"GET /ctl/tx-apikeyctl?a=--redis&a=127.0.0.1:$ENV{TEST_NGINX_CLUSTER_NODE}&a=--cluster&a=create"
--- response_body_like eval
qr/^exit=1 apikeyctl: --cluster needs a hash tag in --prefix/



=== TEST 9: the cluster scope's quota: its script's keys share the slot,
so the node that serves it runs the script and the limit holds
--- timeout: 30
--- http_config eval
$::HTTP . "apikey_rate_limit_scope cluster;\n"
--- init: ::seed_cluster()
--- config eval: $::API
--- request eval
["GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x",
 ApikeyTest::wait_url('/ctl/tx-cluster-redis?a=GET'
                      . '&a=%7Bapikey%7D%3Ausage%3Ak-quota3%3Alast',
                      '^\d+$', 10),
 "GET /status"]
--- more_headers eval
[("X-Secret-Key: $ApikeyTest::KEY{quota3}") x 4, "", ""]
--- error_code eval
[200, 200, 200, 429, 200, 200]
--- response_body_like eval
[qr/^backend GET/, qr/^backend GET/, qr/^backend GET/, qr/"detail"/,
 "matched", qr/"quota":\{"scope":"cluster","redis":"shared".*"reports":[1-9]/]
--- no_error_log
CROSSSLOT
refused the
