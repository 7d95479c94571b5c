# The change log (docs/keys.md): "<prefix>changes" read with XREAD from the
# last entry applied, resumed after a lost connection without a full load;
# full loads only when the position was trimmed away, on "d *", or for a
# first start; the epoch, and a Redis that lost its data; a start that
# never waits for Redis; the snapshot's position.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;
use File::Path qw(make_path);

apikey_setup();
master_on();
no_shuffle();

our $API = $ApikeyTest::API;

sub k { "X-Secret-Key: $ApikeyTest::KEY{$_[0]}" }
sub d { ApikeyTest::digest($ApikeyTest::KEY{$_[0]}) }
sub redis_url { ApikeyTest::redis_url(@_) }

$ENV{TEST_NGINX_FAKE_REDIS_PORT} ||= ($ENV{TEST_NGINX_REDIS_PORT} || 16380) + 2;
$ENV{TEST_NGINX_SNAP_DIR} = ($ENV{TEST_NGINX_SERVROOT} || 't/servroot')
                            . '-changes';
make_path($ENV{TEST_NGINX_SNAP_DIR});
chmod 0777, $ENV{TEST_NGINX_SNAP_DIR};  # the second nginx's workers write
unlink "$ENV{TEST_NGINX_SNAP_DIR}/keys.snap";

our $PORT2 = $ENV{TEST_NGINX_SERVER_PORT2} || 1985;

# the status of the nginx under test, whole
sub status_body {
    my $port = $ENV{TEST_NGINX_SERVER_PORT} || 1984;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 2)
        or return '';
    $s->print("GET /status HTTP/1.0\r\nHost: localhost\r\n\r\n");
    local $/;
    my $resp = <$s>;
    return $resp // '';
}

# The standard keys, an epoch, and the change log: a "d *" in it makes the
# module load everything and then read the log after that entry.
our $INIT = q{
    ApikeyTest::seed();
    ApikeyTest::redis('SET', 'apikey:epoch', 'epoch-one');
    my $id = ApikeyTest::redis('XADD', 'apikey:changes', '*', 'd', '*');
    for (1 .. 500) {
        last if ::status_body() =~ /"position":"\Q$id\E"/;
        select(undef, undef, undef, 0.01);
    }
};

# one Redis connection: the commands given, in order
sub seq {
    return "GET /ctl/redis-seq?" . join '&', map {
        my $c = $_;
        $c =~ s/([^A-Za-z0-9\-_.~ ])/sprintf("%%%02X", ord $1)/ge;
        $c =~ s/ /%20/g;
        "c=$c";
    } @_;
}

# the module's connections closed by Redis, as a network fault would
our @KILL = ('CLIENT KILL TYPE pubsub', 'CLIENT KILL TYPE normal SKIPME yes');

our $SECOND = <<'_EOC_';
>>> second.conf
worker_processes 1;
daemon on;
pid logs/nginx.pid;
error_log logs/error.log info;
load_module $TEST_NGINX_APIKEY_MODULE;
events { worker_connections 1024; }
http {
    access_log off;
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    apikey_snapshot $TEST_NGINX_SNAP_DIR/keys.snap;
    server {
        listen 127.0.0.1:$TEST_NGINX_SERVER_PORT2;
        location /api/ {
            apikey on;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT2/backend/;
        }
        location /backend/ { return 200 "second\n"; }
    }
}
>>> unreachable.conf
worker_processes 1;
daemon on;
pid logs/nginx.pid;
error_log logs/error.log info;
load_module $TEST_NGINX_APIKEY_MODULE;
events { worker_connections 1024; }
http {
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:1;
    server {
        listen 127.0.0.1:$TEST_NGINX_SERVER_PORT2;
        location / { return 200; }
    }
}
>>> slow.conf
worker_processes 1;
daemon on;
pid logs/nginx.pid;
error_log logs/error.log info;
load_module $TEST_NGINX_APIKEY_MODULE;
events { worker_connections 1024; }
http {
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_FAKE_REDIS_PORT;
    server {
        listen 127.0.0.1:$TEST_NGINX_SERVER_PORT2;
        location / { return 200; }
    }
}
_EOC_

run_tests();

__DATA__

=== TEST 1: a revocation in the change log reaches the workers within 100 ms
--- init eval: $::INIT
--- config eval: $::API
--- request eval
["GET /api/x",
 ::seq("MULTI", "HSET apikey:key:" . ::d("full") . " active 0",
       "XADD apikey:changes * d " . ::d("full"), "EXEC") . "&sleep=0.1",
 "GET /api/x", "GET /api/x"]
--- more_headers eval
[::k("full"), "", ::k("full"), ::k("read")]
--- error_code eval
[200, 200, 401, 200]



=== TEST 2: after a lost connection the log is read from where it was: no full load
--- init eval: $::INIT
--- config eval: $::API
--- request eval
["GET /api/x",
 ::seq("CONFIG RESETSTAT", "MULTI", @::KILL,
       "HSET apikey:key:" . ::d("full") . " active 0",
       "XADD apikey:changes * d " . ::d("full"), "EXEC") . "&sleep=1.5",
 "GET /api/x", "GET /api/x",
 "GET /ctl/redis?a=INFO&a=commandstats",
 "GET /status"]
--- more_headers eval
[::k("full"), "", ::k("full"), ::k("read"), "", ""]
--- error_code eval
[200, 200, 401, 200, 200, 200]
--- response_body_like eval
["", "", "", "", qr/^(?!.*cmdstat_scan)(?=.*cmdstat_xrange).*cmdstat_xread/s,
 qr/"reconnects":[1-9]/]



=== TEST 3: a position trimmed from the log: everything is loaded
--- init eval: $::INIT
--- config eval: $::API
--- request eval
["GET /api/x",
 ::seq("CONFIG RESETSTAT", "MULTI", @::KILL,
       "HSET apikey:key:" . ::d("full") . " active 0",
       "XADD apikey:changes * d " . ::d("full"),
       "XTRIM apikey:changes MAXLEN 0", "EXEC") . "&sleep=1.5",
 "GET /api/x", "GET /api/x",
 "GET /ctl/redis?a=INFO&a=commandstats"]
--- more_headers eval
[::k("full"), "", ::k("full"), ::k("read"), ""]
--- error_code eval
[200, 200, 401, 200, 200]
--- response_body_like eval
["", "", "", "", qr/cmdstat_scan/]



=== TEST 4: "d *" loads everything: changes and deletions without their own entry
--- init eval: $::INIT
--- config eval: $::API
--- request eval
["GET /api/x", "POST /api/x",
 ::seq("HSET apikey:key:" . ::d("read") . " access full",
       "DEL apikey:key:" . ::d("full")),
 "GET /api/x", "POST /api/x",
 ::seq("XADD apikey:changes * d *") . "&sleep=0.5",
 "GET /api/x", "POST /api/x"]
--- more_headers eval
[::k("full"), ::k("read"), "", ::k("full"), ::k("read"), "", ::k("full"),
 ::k("read")]
--- error_code eval
[200, 403, 200, 200, 403, 200, 401, 200]



=== TEST 5: another epoch: the mirror stays, the status and the log say so; "d *" takes it
--- init eval: $::INIT
--- config eval: $::API
--- request eval
["GET /api/x",
 ::seq("MULTI", "SET apikey:epoch epoch-two",
       "HSET apikey:key:" . ::d("full") . " active 0", @::KILL, "EXEC")
 . "&sleep=1.5",
 "GET /api/x", "GET /status",
 ::seq("XADD apikey:changes * d *") . "&sleep=0.5",
 "GET /api/x", "GET /status"]
--- more_headers eval
[::k("full"), "", ::k("full"), "", "", ::k("full"), ""]
--- error_code eval
[200, 200, 200, 200, 200, 401, 200]
--- response_body_like eval
["", "", "backend", qr/"dataset":"changed"/, "", "Invalid",
 qr/"dataset":"ok"/]



=== TEST 6: Redis restarted empty: keys keep working, the status says so
--- timeout: 10
--- init eval: $::INIT
--- config eval: $::API
--- request eval
["GET /api/x",
 "GET /ctl/redis-restart-empty?sleep=1.5",
 "GET /api/x", "POST /api/x", "GET /status",
 "GET /ctl/sleep?sleep=5.5",
 "GET /api/x", "GET /status"]
--- more_headers eval
[::k("full"), "", ::k("full"), ::k("read"), "", "", ::k("full"), ""]
--- error_code eval
[200, 200, 200, 403, 200, 200, 200, 200]
--- response_body_like eval
["", "restarted empty", "", "", qr/"keys":10,.*"dataset":"missing"/, "",
 "backend", qr/"keys":10,.*"dataset":"missing"/]



=== TEST 7: ... and the error log says it once
--- init eval: $::INIT . 'ApikeyTest::ctl("redis-restart-empty"); select(undef, undef, undef, 1.5);'
--- config eval: $::API
--- more_headers eval
::k("full")
--- request
GET /api/x
--- error_code: 200
--- error_log
has lost the dataset (no epoch), the 10 keys of the mirror stay in use



=== TEST 8: ... and the new dataset takes effect with apikeyctl accept-dataset
--- timeout: 10
--- init eval: $::INIT
--- config eval: $::API
--- request eval
["GET /ctl/redis-restart-empty?sleep=1.5",
 "GET /api/x",
 "GET /ctl/apikeyctl?a=accept-dataset&sleep=0.5",
 "GET /api/x", "GET /status"]
--- more_headers eval
["", ::k("full"), "", ::k("full"), ""]
--- error_code eval
[200, 200, 200, 401, 200]
--- response_body_like eval
["", "", "exit=0", "", qr/"keys":0,.*"dataset":"ok"/]



=== TEST 9: FLUSHALL is noticed by the epoch check, and empties nothing
--- timeout: 12
--- init eval: $::INIT
--- config eval: $::API
--- request eval
["GET /ctl/redis?a=FLUSHALL&sleep=6",
 ::seq("PUBLISH apikey:events " . ::d("read")) . "&sleep=0.2",
 "GET /api/x", "GET /api/x", "GET /status"]
--- more_headers eval
["", "", ::k("full"), ::k("read"), ""]
--- error_code eval
[200, 200, 200, 401, 200]
--- response_body_like eval
["", "", "", "", qr/"keys":9,.*"dataset":"missing"/]



=== TEST 10: the nginx command returns at once with Redis unreachable, or answering a byte a second
--- timeout: 15
--- init eval: $::INIT
--- config eval: $::API
--- user_files eval: $::SECOND
--- request eval
["GET /ctl/nginx2-start?conf=unreachable.conf",
 "GET /ctl/nginx2-stop",
 "GET /ctl/fake-redis-start?port=$ENV{TEST_NGINX_FAKE_REDIS_PORT}&mode=slow",
 "GET /ctl/nginx2-start?conf=slow.conf",
 "GET /ctl/nginx2-stop",
 "GET /ctl/fake-redis-stop"]
--- response_body_like eval
[qr/^started in (1?\d{1,3}) ms$/, "stopped", "started",
 qr/^started in (1?\d{1,3}) ms$/, "stopped", "stopped"]



=== TEST 11: a start from the snapshot catches up from its position, without a full load
--- timeout: 15
--- init eval: $::INIT
--- config eval: $::API
--- user_files eval: $::SECOND
--- request eval
["GET /ctl/nginx2-start?conf=second.conf&sleep=1",
 "GET /ctl/hammer?n=1&c=1&ports=$::PORT2&path=/api/x&key=$ApikeyTest::KEY{full}",
 "GET /ctl/nginx2-stop",
 ::seq("CONFIG RESETSTAT", "MULTI",
       "HSET apikey:key:" . ::d("full") . " active 0",
       "XADD apikey:changes * d " . ::d("full"), "EXEC"),
 "GET /ctl/nginx2-start?conf=second.conf&sleep=1",
 "GET /ctl/hammer?n=4&c=1&ports=$::PORT2&path=/api/x&key=$ApikeyTest::KEY{full}",
 "GET /ctl/hammer?n=4&c=1&ports=$::PORT2&path=/api/x&key=$ApikeyTest::KEY{read}",
 "GET /ctl/redis?a=INFO&a=commandstats",
 "GET /ctl/nginx2-stop"]
--- response_body_like eval
["started", "^200=1\$", "stopped", "", "started", "^401=4\$", "^200=4\$",
 qr/^(?!.*cmdstat_scan).*cmdstat_xread/s, "stopped"]



=== TEST 12: USR2 with a changed zone: no 503, a key revoked meanwhile is refused
--- timeout: 30
--- init eval
$::INIT . 'unlink "$ENV{TEST_NGINX_SNAP_DIR}/keys.snap";'
--- config eval: $::API
--- user_files eval: $::SECOND
--- request eval
["GET /ctl/nginx2-start?conf=second.conf",
 "GET /ctl/nginx2-log?match=snapshot.of.10.keys.written&wait=10",
 "GET /ctl/load-start?path=/api/x&c=2&port=$::PORT2"
 . "&key=valid:$ApikeyTest::KEY{full}&key=revoked:$ApikeyTest::KEY{read}",
 "GET /ctl/nginx2-upgrade?from=keys:4m&to=keys:8m&step=usr2",
 ::seq("MULTI", "HSET apikey:key:" . ::d("read") . " active 0",
       "XADD apikey:changes * d " . ::d("read"), "EXEC"),
 "GET /ctl/nginx2-upgrade?step=finish",
 "GET /ctl/wait-key?port=$::PORT2&path=/api/x&status=401&timeout=5"
 . "&key=$ApikeyTest::KEY{read}",
 "GET /ctl/hammer?n=20&c=2&ports=$::PORT2&path=/api/x"
 . "&key=$ApikeyTest::KEY{read}",
 "GET /ctl/load-stop",
 "GET /ctl/nginx2-log?match=deciding.from.the.snapshot.*of.10.keys",
 "GET /ctl/nginx2-stop"]
--- response_body_like eval
["started", "^lines=[1-9]", "load started", "new master", "", "upgraded",
 "matched", "^401=20\$",
 qr/^(revoked:200=\d+ )?revoked:401=\d+ valid:200=\d+ max_ms=\d+$/,
 "^lines=1\$", "stopped"]



=== TEST 13: a record over the reply bound is refused, never buffered whole, and the log goes on
--- timeout: 15
--- init eval: $::INIT
--- config eval: $::API
--- request eval
["GET /api/x",
 ::redis_url("EVAL", "redis.call('HSET', KEYS[1], 'name', string.rep('n', 9000000)) return 1", 1, "apikey:key:" . ::d("full")),
 ::seq("MULTI", "XADD apikey:changes * d " . ::d("full"),
       "HSET apikey:key:" . ::d("read") . " active 0",
       "XADD apikey:changes * d " . ::d("read"), "EXEC") . "&sleep=2",
 "GET /api/x", "GET /api/x", "GET /api/x"]
--- more_headers eval
[::k("full"), "", "", ::k("full"), ::k("read"), ::k("future")]
--- error_code eval
[200, 200, 200, 401, 401, 200]



=== TEST 14: ... and the error log names the key and the bound
--- timeout: 15
--- init eval
$::INIT . q{
    ApikeyTest::redis('EVAL', "redis.call('HSET', KEYS[1], 'name', string.rep('n', 9000000)) return 1", 1, 'apikey:key:' . ::d('full'));
    ApikeyTest::redis('XADD', 'apikey:changes', '*', 'd', ::d('full'));
    select(undef, undef, undef, 2);
}
--- config eval: $::API
--- more_headers eval
::k("full")
--- request
GET /api/x
--- error_code: 401
--- error_log eval
[qr/redis key "apikey:key:[0-9a-f]{64}" is over the reply bound of 8388608 bytes, its record is refused/,
 qr/a reply over 8388608 bytes \(the bound of the commands connection\) refused/]
