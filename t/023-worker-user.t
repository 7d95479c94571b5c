# A unix socket the worker processes may not open.  Whatever the mirror
# serves (a snapshot), the workers (user nobody) get "Permission denied" and no
# change made in Redis ever reaches them.  Each worker checks the socket
# with its own user at start: an error-log line, repeated while it lasts,
# and a status field.  The sockets are replicas of the suite's Redis,
# root's, of mode 700 (denied) and 777 (allowed).
use strict;
use warnings;

# workers of another user need a master run by root
BEGIN {
    if ($> != 0) {
        print "1..0 # SKIP the master must run as root\n";
        exit 0;
    }

    $ENV{TEST_NGINX_WORKER_USER} = 'nobody nogroup';
}

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;
use ExtraRedis qw(extra_port extra_socket start_redis redis_cli);

apikey_setup();
master_on();
workers(2);
no_shuffle();

our $API = $ApikeyTest::API;
our $FULL = "X-Secret-Key: $ApikeyTest::KEY{full}";

# the records, in the replicas before nginx starts (a master that loads
# at start, as root, finds them)
ApikeyTest::seed();

$ENV{TEST_NGINX_DENIED_SOCKET} = extra_socket('denied-' . extra_port(5));
$ENV{TEST_NGINX_OPEN_SOCKET} = extra_socket('open-' . extra_port(6));

for (['denied-' . extra_port(5), $ENV{TEST_NGINX_DENIED_SOCKET}, '700'],
     ['open-' . extra_port(6), $ENV{TEST_NGINX_OPEN_SOCKET}, '777'])
{
    my ($name, $socket, $mode) = @$_;
    start_redis($name, $socket, '--unixsocketperm', $mode, '--replicaof',
                '127.0.0.1', $ApikeyTest::REDIS_PORT);

    my $key = 'apikey:key:' . ApikeyTest::digest($ApikeyTest::KEY{full});
    for (1 .. 500) {
        last if redis_cli($socket, 'HGET', $key, 'id') eq 'k-full';
        select(undef, undef, undef, 0.02);
    }
}

run_tests();

__DATA__

=== TEST 1: a socket the workers may not open: said at start, repeated, and in the status
--- timeout: 40
--- http_config
    apikey_zone keys:4m;
    apikey_redis unix:$TEST_NGINX_DENIED_SOCKET;
--- config eval: $::API . $ApikeyTest::ERRLOG
--- init
1;
--- request eval
["GET /status", "GET /status?format=prometheus",
 ApikeyTest::wait_url('/errlog', 'apikey: worker processes \(user "nobody"\) cannot open redis unix:\S+: no key is loaded or changed from it, whatever the mirror serves \(13: Permission denied\)', 5),
 ApikeyTest::wait_url('/errlog', '(?s:cannot open redis.*){2}', 25)]
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
[qr/"worker_access_denied":true/,
 qr/apikey_redis_worker_access_denied\{zone="keys"\} 1\n/, "matched",
 "matched"]



=== TEST 2: a socket the workers may open: no such line, and the status says so
--- http_config
    apikey_zone keys:4m;
    apikey_redis unix:$TEST_NGINX_OPEN_SOCKET;
--- config eval: $::API
--- init
1;
--- request eval
[ApikeyTest::wait_url('/status', '"state":"synced"'), "GET /api/x",
 "GET /status"]
--- more_headers eval
["", $::FULL, ""]
--- response_body_like eval
["matched", qr/^backend GET/, qr/"worker_access_denied":false/]
--- no_error_log
cannot open redis
exited on signal
