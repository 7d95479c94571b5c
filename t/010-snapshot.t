# apikey_snapshot: the mirror written to disk after a full load, and used
# by an nginx that starts while Redis cannot be reached.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;
use File::Path qw(make_path);

apikey_setup();
no_shuffle();

our $DIR = ($ENV{TEST_NGINX_SERVROOT} || 't/servroot') . '-snap';
make_path($DIR);
unlink "$DIR/keys.snap", "$DIR/big.snap";

# a damaged snapshot, there before any nginx starts
open my $fh, '>', "$DIR/bad.snap" or die;
print $fh "APIKEYSNAP1\n", "\x10\0\0\0", "garbage" x 10;
close $fh;

our $API = $ApikeyTest::API;

sub k { "X-Secret-Key: $ApikeyTest::KEY{$_[0]}" }

run_tests();

__DATA__

=== TEST 1: with Redis there, the mirror is written after the full load
--- http_config eval
$ApikeyTest::HTTP_CONFIG . "apikey_snapshot $::DIR/keys.snap;"
--- config eval: $::API
--- request eval
["GET /api/x", "GET /ctl/sleep?sleep=0.5"]
--- more_headers eval
[::k("full"), ""]
--- error_code eval
[200, 200]



=== TEST 2: Redis unreachable at start: decisions come from the snapshot
A start with Redis unreachable, which reads the snapshot: a fresh zone.
--- fresh_zone
--- init: 1
--- http_config eval
"apikey_zone keys:4m; apikey_redis 127.0.0.1:1; apikey_snapshot $::DIR/keys.snap;"
--- config eval: $::API
--- request eval
["GET /api/x", "POST /api/x", "GET /api/x", "GET /api/x", "GET /status"]
--- more_headers eval
[::k("full"), ::k("read"), ::k("expired"), ::k("inactive"), ""]
--- error_code eval
[200, 403, 401, 401, 200]
--- response_body_like eval
["", "", "expired", "Invalid", qr/"keys":10,"loaded":true,.*"from_snapshot":true/]



=== TEST 3: ... and the error log says so
A start with Redis unreachable, which reads the snapshot: a fresh zone.
--- fresh_zone
--- init: 1
--- http_config eval
"apikey_zone keys:4m; apikey_redis 127.0.0.1:1; apikey_snapshot $::DIR/keys.snap;"
--- config eval: $::API
--- more_headers eval
::k("full")
--- request
GET /api/x
--- error_code: 200
--- error_log eval
[qr/deciding from the snapshot ".*keys\.snap" of 10 keys/]



=== TEST 4: a damaged snapshot is not used at all
A start with Redis unreachable, which reads the snapshot: a fresh zone.
--- fresh_zone
--- init: 1
--- http_config eval
"apikey_zone keys:4m; apikey_redis 127.0.0.1:1; apikey_snapshot $::DIR/bad.snap;"
--- config eval: $::API
--- more_headers eval
::k("full")
--- request
GET /api/x
--- error_code: 503
--- error_log eval
[qr/snapshot ".*bad\.snap" is damaged or not a snapshot, not used/]



=== TEST 5: no snapshot file yet: 503 as without the directive
A start with Redis unreachable, which reads the snapshot: a fresh zone.
--- fresh_zone
--- init: 1
--- http_config eval
"apikey_zone keys:4m; apikey_redis 127.0.0.1:1; apikey_snapshot $::DIR/none.snap;"
--- config eval: $::API
--- more_headers eval
::k("full")
--- request
GET /api/x
--- error_code: 503



=== TEST 6: the snapshot holds digests, never a raw key (the check is in init)
A start with Redis unreachable, which reads the snapshot: a fresh zone.
--- fresh_zone
--- init
open my $fh, '<', "$::DIR/keys.snap" or die "no snapshot: $!";
local $/;
my $data = <$fh>;
for my $name (keys %ApikeyTest::KEY) {
    die "raw key $name in the snapshot" if index($data, $ApikeyTest::KEY{$name}) >= 0;
}
die "no digest in the snapshot"
    unless index($data, pack('H*', ApikeyTest::digest($ApikeyTest::KEY{full}))) >= 0;
--- http_config eval
"apikey_zone keys:4m; apikey_redis 127.0.0.1:1; apikey_snapshot $::DIR/keys.snap;"
--- config eval: $::API
--- more_headers eval
::k("full")
--- request
GET /api/x
--- error_code: 200



=== TEST 7: a snapshot not written with this apikey_hash_secret is refused
The snapshot of TEST 1 was written without a secret: its keyed check fails.
A start with Redis unreachable, which reads the snapshot: a fresh zone.
--- fresh_zone
--- init: 1
--- user_files
>>> secret.txt
SSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS
--- http_config eval
"apikey_zone keys:4m; apikey_redis 127.0.0.1:1; apikey_snapshot $::DIR/keys.snap;
 apikey_hash_secret ../html/secret.txt;"
--- config eval: $::API
--- more_headers eval
::k("full")
--- request
GET /api/x
--- error_code: 503
--- error_log eval
[qr/snapshot ".*keys\.snap" is damaged or not a snapshot, not used/]



=== TEST 8: a snapshot larger than the write buffer is written whole
5000 more keys (about 320 kB of records, the buffer is 256 kB), whose
digests, alike but for their last bytes, share one bucket of the table:
the write must neither loop on that chain nor write a record twice.
--- init
ApikeyTest::seed();
ApikeyTest::redis('EVAL', $ApikeyTest::BULK, 0, 1, 5000, 'bulk');
ApikeyTest::resync();
my $deadline = time + 10;
until ((-s "$::DIR/keys.snap" || 0) > 300000 || time > $deadline) {
    select(undef, undef, undef, 0.05);
}
--- http_config eval
"apikey_zone keys:4m; apikey_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;
 apikey_snapshot $::DIR/keys.snap;"
--- config eval: $::API
--- more_headers eval
::k("full")
--- request
GET /api/x
--- error_code: 200
--- error_log eval
[qr/snapshot of 5010 keys written to ".*keys\.snap"/]



=== TEST 9: ... and an nginx that starts from it has every key
--- init: 1
--- http_config eval
"apikey_zone keys:4m; apikey_redis 127.0.0.1:1; apikey_snapshot $::DIR/keys.snap;"
--- config eval: $::API
--- request eval
["GET /api/x", "GET /status"]
--- more_headers eval
[::k("full"), ""]
--- error_code eval
[200, 200]
--- response_body_like eval
["", qr/"keys":5010,"loaded":true,.*"from_snapshot":true/]



=== TEST 10: a snapshot another process is writing is left to it, and written later
The old and the new workers of a binary upgrade both write the file: the
temporary file is locked while written, a writer that finds it locked
waits for the next tick instead of mixing its records into it.
--- timeout: 30
--- http_config eval
"apikey_zone keys:4m; apikey_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;
 apikey_snapshot $::DIR/keys.snap;"
--- config eval: $::API
--- request eval
# (spaces and quotes escaped in the patterns of nginx-log: the error log
# holds the request lines too, whose escapes the patterns then do not match)
my $d = ApikeyTest::digest($ApikeyTest::KEY{read});
["GET /ctl/lock-file?path=$::DIR/keys.snap.tmp&seconds=6",
 "GET /ctl/redis?a=HSET&a=apikey:key:$d&a=active&a=0",
 "GET /ctl/redis?a=PUBLISH&a=apikey:events&a=$d",
 "GET /ctl/nginx-log?wait=10"
 . "&match=keys.snap.tmp%22%20is%20being%20written%20by%20another",
 "GET /ctl/nginx-log?wait=20&match=snapshot%20of%2010%20keys%20written"
 . "&after=tmp%22%20is%20being%20written%20by%20another",
 "GET /api/x"]
--- more_headers eval
["", "", "", "", "", ::k("read")]
--- error_code eval
[200, 200, 200, 200, 200, 401]
--- response_body_like eval
["locked", "", "", "^lines=[1-9]", "^lines=[1-9]", "Invalid"]



=== TEST 11: a changing mirror is written again no sooner than its size says
400,000 more keys (a file of about 26 MB): at 1 MB/s, the next write waits
about 25 s, not the 5 s of a small mirror, however often keys change.  The
two writes measured both happen while keys change every half second, so a
slow full load before them (a busy machine) does not shorten the gap.
--- fresh_zone
--- timeout: 150
--- init
ApikeyTest::seed();
# digests spread over the table by their first bytes, 50,000 a script
# (the suite's Redis client waits 5 s for a reply)
ApikeyTest::redis('EVAL', q{
    for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do
        local h = string.format('%08x', (i * 2654435761) % 4294967296)
        redis.call('HSET', 'apikey:key:' .. h .. string.format('%056x', i),
                   'id', 'bulk-' .. i, 'access', 'full', 'name', 'spread')
    end
    return 1
}, 0, $_ * 50000 + 1, ($_ + 1) * 50000) for 0 .. 7;
ApikeyTest::resync();
--- http_config eval
"apikey_zone keys:128m; apikey_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;
 apikey_snapshot $::DIR/big.snap;"
--- config eval: $::API
--- request eval
# the first write follows the first full load; resync() asks for a second
# one, which changes nothing and writes nothing; then keys change every
# half second
my $d = ApikeyTest::digest($ApikeyTest::KEY{full});
my $watch = "GET /ctl/snap-watch?path=$::DIR/big.snap&digest=$d";
["GET /ctl/nginx-log?wait=50"
 . "&match=full%20sync%20of%20400010%20keys%20in%20%5Cd%2B%20ms%3A%200%20changed",
 "GET /ctl/nginx-log?match=snapshot%20of%20400010%20keys%20written",
 "$watch&seconds=100&count=2"]
--- response_body_like eval
["^lines=1\$", "^lines=1\$", "^gap=(?:1[89]|[2-9][0-9]|[0-9]{3,})\$"]
