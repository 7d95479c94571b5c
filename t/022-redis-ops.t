# Redis as operators run it: the password in a file of its own, never in
# `nginx -T` or a log line; and the failures that used to be quiet: writes
# refused by an ACL user without the write commands (NOPERM) or by a
# replica (READONLY), and a mirror that has not heard from Redis for
# longer than apikey_max_stale.  The ACL lines are the ones
# docs/directives.md gives, run against the suite's redis-server.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;
use ExtraRedis qw(extra_port start_redis);

apikey_setup();
master_on();
workers(2);
no_shuffle();

our $API = $ApikeyTest::API;
our $PW = 'Ops-Pa55w0rd-9f3c1e7a';
our $FULL = "X-Secret-Key: $ApikeyTest::KEY{full}";
our $CRASH = "exited on signal 11\nexited on signal 6\n";

# users as docs/directives.md writes them (a restart of Redis drops them)
my @READ_KEYS = qw(%R~apikey:key:* %R~apikey:changes %R~apikey:epoch);
my @READ_CMDS = qw(+ping +select +subscribe +role +scan +hgetall +get +exists
                   +xread +xrange +xrevrange);
ApikeyTest::redis('ACL', 'SETUSER', 'apikey-ops-pw', 'reset', 'on', ">$PW",
                  '~*', '&*', '+@all');
ApikeyTest::redis('ACL', 'SETUSER', 'apikey-ops-ro', 'reset', 'on', ">$PW",
                  'resetkeys', @READ_KEYS, 'resetchannels', '&apikey:events',
                  '-@all', @READ_CMDS);
ApikeyTest::redis('ACL', 'SETUSER', 'apikey-ops-full', 'reset', 'on', ">$PW",
                  'resetkeys', @READ_KEYS, '~apikey:usage:*', '~apikey:quota:*',
                  'resetchannels', '&apikey:events', '-@all', @READ_CMDS,
                  qw(+eval +evalsha +hget +hset +incrby +expire +set +zadd
                     +zremrangebyscore +zcard));

# a replica of the suite's Redis, for writes that get READONLY
$ENV{TEST_NGINX_REPLICA_PORT} = extra_port(20);
start_redis('replica-' . extra_port(20), extra_port(20), '--replicaof',
            '127.0.0.1', $ApikeyTest::REDIS_PORT);

sub redis_config {
    my ($args) = @_;
    return "apikey_zone keys:4m;\n"
           . "apikey_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT $args;\n";
}

# `nginx -T` of the running configuration, saved where a request reads it
our $DUMP = q{
    ApikeyTest::seed();
    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
    system("$bin -T -p $Test::Nginx::Util::ServRoot/"
           . " -c $Test::Nginx::Util::ConfFile"
           . " > $Test::Nginx::Util::HtmlDir/dump.txt 2>&1");
};

run_tests();

__DATA__

=== TEST 1: password_file: AUTH works, the password is in no nginx -T and no log line
--- user_files eval
">>> redis.pw\n$::PW\n"
--- http_config eval
::redis_config("user=apikey-ops-pw password_file=../html/redis.pw")
--- config eval: $::API
--- init eval: $::DUMP
--- request eval
["GET /api/x", "GET /dump.txt"]
--- more_headers eval
[$::FULL, ""]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^backend GET/,
 qr/\A(?!.*\Q$::PW\E)(?=.*password_file=\.\.\/html\/redis\.pw)(?=.*syntax is ok)/s]
--- no_error_log eval
$::CRASH . $::PW



=== TEST 2: a wrong password in the file: the AUTH failure is logged, the password is not
The mirror must never have loaded: a fresh zone.
--- fresh_zone
--- user_files
>>> redis.pw
Wrong-Secret-4b1d
--- http_config eval
::redis_config("user=apikey-ops-pw password_file=../html/redis.pw")
--- config eval: $::API . $ApikeyTest::ERRLOG
--- init
1;
--- request eval
[ApikeyTest::wait_url('/errlog', 'handshake failed: WRONGPASS'), "GET /api/x"]
--- more_headers eval
["", $::FULL]
--- error_code eval
[200, 503]
--- response_body_like eval
["matched", qr/^\{"detail":"Authentication unavailable"\}$/]
--- no_error_log eval
$::CRASH . "Wrong-Secret-4b1d"



=== TEST 3: an empty password file is refused
--- user_files
>>> redis.pw
--- http_config eval
::redis_config("password_file=../html/redis.pw")
--- config
--- must_die
--- error_log
in "apikey_redis" directive is empty



=== TEST 4: a password file of two lines is refused without echoing either
--- user_files
>>> redis.pw
apikey-ops-pw
Two-Line-Secret-77
--- http_config eval
::redis_config("password_file=../html/redis.pw")
--- config
--- must_die
--- error_log
in "apikey_redis" directive must hold the password alone, on one line
--- no_error_log
Two-Line-Secret-77



=== TEST 5: a password file that cannot be opened
--- http_config eval
::redis_config("password_file=/nonexistent/redis.pw")
--- config
--- must_die
--- error_log
cannot open "/nonexistent/redis.pw" in "apikey_redis" directive (2: No such file or directory)



=== TEST 6: a password file that cannot be read (a directory)
--- http_config eval
::redis_config("password_file=/")
--- config
--- must_die
--- error_log
cannot read "/" in "apikey_redis" directive (21: Is a directory)



=== TEST 7: password= and password_file= together are refused
--- user_files eval
">>> redis.pw\n$::PW\n"
--- http_config eval
::redis_config("password_file=../html/redis.pw password=Inline-Secret-55")
--- config
--- must_die
--- error_log
one password only: "password=" or "password_file=", once, in "apikey_redis" directive
--- no_error_log
Inline-Secret-55



=== TEST 8: read-only ACL: keys sync; usage write-back gets NOPERM, logged again 10 s on and counted
--- timeout: 60
--- http_config eval
::redis_config("user=apikey-ops-ro password=$::PW")
--- config eval: $::API . $ApikeyTest::ERRLOG
--- request eval
["GET /api/x",
 ApikeyTest::wait_url('/status', '"noperm":[1-9]'),
 "GET /ctl/sleep?sleep=11",
 "GET /api/x",
 ApikeyTest::wait_url('/errlog', 'write-back(?s:.*)write-back', 10),
 ApikeyTest::wait_url('/errlog', 'apikey: redis 127\.0\.0\.1:\d+ refused the usage write-back \(\d+ times so far\): "NOPERM [^"]*"; the Redis user lacks the write commands', 5),
 "GET /status?format=prometheus"]
--- more_headers eval
[$::FULL, "", "", $::FULL, "", "", ""]
--- error_code eval
[200, 200, 200, 200, 200, 200, 200]
--- response_body_like eval
[qr/^backend GET/, "matched", "", qr/^backend GET/, "matched", "matched",
 qr/apikey_redis_write_errors_total\{zone="keys",reason="noperm"\} [1-9]/]



=== TEST 9: full ACL: keys sync, usage and cluster counts are written
No write error counted by the blocks before: a fresh zone.
--- fresh_zone
--- timeout: 30
--- http_config eval
::redis_config("user=apikey-ops-full password=$::PW")
. "apikey_rate_limit_scope cluster;\n"
--- config eval: $::API
--- request eval
["GET /api/x", "GET /api/x",
 ApikeyTest::wait_url('/ctl/redis?a=KEYS&a=apikey:usage:k-full:*', 'k-full:\d+', 10),
 "GET /status"]
--- more_headers eval
[$::FULL, $::FULL, "", ""]
--- response_body_like eval
[qr/^backend GET/, qr/^backend GET/, "matched",
 qr/"write_errors":\{"noperm":0,"readonly":0,"other":0\},"last_write_error":0/]
--- no_error_log eval
$::CRASH . "NOPERM\nrefused the"



=== TEST 10: a replica: keys sync from it; usage write-back gets READONLY, logged and counted
--- timeout: 30
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_REPLICA_PORT;
--- config eval: $::API . $ApikeyTest::ERRLOG
--- request eval
["GET /api/x", ApikeyTest::wait_url('/status', '"readonly":[1-9]'),
 ApikeyTest::wait_url('/errlog', 'refused the usage write-back \(\d+ times so far\): "READONLY [^"]*"; this Redis is a read-only replica', 5)]
--- more_headers eval
[$::FULL, "", ""]
--- response_body_like eval
[qr/^backend GET/, "matched", "matched"]



=== TEST 11: apikey_max_stale below 10s
--- http_config eval: $ApikeyTest::HTTP_CONFIG . "apikey_max_stale 5s;"
--- config
--- must_die
--- error_log
invalid value "5s" in "apikey_max_stale" directive, it must be a time from 10s to 7d, or "off"



=== TEST 12: apikey_max_stale with a bad second parameter
--- http_config eval: $ApikeyTest::HTTP_CONFIG . "apikey_max_stale 1m refuse;"
--- config
--- must_die
--- error_log
invalid parameter "refuse" in "apikey_max_stale" directive, only a time may be followed by "fail"



=== TEST 13: apikey_max_stale off fail
--- http_config eval: $ApikeyTest::HTTP_CONFIG . "apikey_max_stale off fail;"
--- config
--- must_die
--- error_log
invalid parameter "fail" in "apikey_max_stale" directive



=== TEST 14: apikey_max_stale: a silent Redis escalates in the status and the log, keys still pass
--- timeout: 60
--- http_config eval: $ApikeyTest::HTTP_CONFIG . "apikey_max_stale 10s;"
--- config eval: $::API . $ApikeyTest::ERRLOG
--- request eval
["GET /api/x",
 "GET /ctl/redis-stop",
 ApikeyTest::wait_url('/status', '"stale":true'),
 "GET /api/x",
 "GET /status?format=prometheus",
 ApikeyTest::wait_url('/errlog', 'no reply from redis 127\.0\.0\.1:\d+ for \d+ s, longer than apikey_max_stale 10 s: keys revoked since may still be accepted', 5),
 "GET /ctl/redis-start",
 ApikeyTest::wait_url('/status', '"stale":false'),
 ApikeyTest::wait_url('/errlog', 'redis 127\.0\.0\.1:\d+ answers again, the key mirror is current', 5),
 "GET /status"]
--- more_headers eval
[$::FULL, "", "", $::FULL, "", "", "", "", "", ""]
--- error_code eval
[200, 200, 200, 200, 200, 200, 200, 200, 200, 200]
--- response_body_like eval
[qr/^backend GET/, "stopped", "matched", qr/^backend GET/,
 qr/apikey_redis_stale\{zone="keys"\} 1\n/, "matched", "started",
 "matched", "matched", qr/"max_stale":10,"stale":false/]



=== TEST 15: apikey_max_stale fail: a silent Redis gets requests 503 until it answers again
--- timeout: 60
--- http_config eval: $ApikeyTest::HTTP_CONFIG . "apikey_max_stale 10s fail;"
--- config eval: $::API . $ApikeyTest::ERRLOG
--- request eval
["GET /api/x",
 "GET /ctl/redis-stop",
 ApikeyTest::wait_url('/status', '"stale":true'),
 "GET /api/x",
 ApikeyTest::wait_url('/errlog', 'longer than apikey_max_stale 10 s: requests get 503 until it answers', 5),
 "GET /ctl/redis-start",
 ApikeyTest::wait_url('/status', '"stale":false'),
 "GET /api/x"]
--- more_headers eval
[$::FULL, "", "", $::FULL, "", "", "", $::FULL]
--- error_code eval
[200, 200, 200, 503, 200, 200, 200, 200]
--- response_body_like eval
[qr/^backend GET/, "stopped", "matched",
 qr/^\{"detail":"Authentication unavailable"\}$/, "matched", "started",
 "matched", qr/^backend GET/]
