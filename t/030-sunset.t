# apikey_expiry_warning (docs/directives.md, docs/decision.md): Sunset
# (RFC 8594) on the responses of a key within the configured time of its
# "expires", Deprecation (RFC 9745) for a key replaced by a rotation, the
# Link to the operator's documentation, the record's "deprecated" field
# (docs/keys.md) as apikeyctl rotate writes it, and the snapshot that
# carries it.  "X-Apikey-Test-Now: <unix time>" stands in for the clock of
# the test build (docs/testing.md), so the window starts at the second.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use File::Path qw(make_path);
use ApikeyTest;

apikey_setup();
no_shuffle();

our $E = 1900000000;                            # the keys' "expires"
our $SUNSET = 'Sun, 17 Mar 2030 17:46:40 GMT';  # $E as an HTTP-date
our $D = 1899900000;                            # "deprecated"
our $URL = 'https://docs.example.com/keys/rotation';
our $WEEK = 7 * 24 * 3600;

our %R = (
    sun    => 'SuNsEt00000000000000000000000031',
    dep    => 'DePrEc00000000000000000000000032',
    ro     => 'SuNrEaD0000000000000000000000033',
    zero   => 'SuNzErO0000000000000000000000034',
    ipd    => 'SuNiPdEnY000000000000000000000035',
    never  => 'NeVeR000000000000000000000000036',
    bad    => 'BaDdEp00000000000000000000000037',
    inv    => 'InVeRt00000000000000000000000038',
);

our %K = map { $_ => ApikeyTest::make_key($R{$_}) } keys %R;

our @KEYS = (
    [$K{sun}, id => 'k-sun', access => 'full', expires => $E],
    [$K{dep}, id => 'k-dep', access => 'full', expires => $E,
     deprecated => $D],
    [$K{ro}, id => 'k-sunread', access => 'read', expires => $E],
    [$K{zero}, id => 'k-sunzero', access => 'full', limit => '0',
     expires => $E],
    [$K{ipd}, id => 'k-sunip', access => 'full', ips => '10.1.0.0/16',
     expires => $E],
    [$K{never}, id => 'k-never', access => 'full', deprecated => $D],
    [$K{bad}, id => 'k-baddep', access => 'full', expires => $E,
     deprecated => 'yesterday'],
    [$K{inv}, id => 'k-invert', access => 'full', expires => $E,
     deprecated => $E + 1],
);

sub http_date {
    my @t = gmtime($_[0]);
    my @d = qw(Sun Mon Tue Wed Thu Fri Sat);
    my @m = qw(Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec);
    return sprintf("%s, %02d %s %04d %02d:%02d:%02d GMT", $d[$t[6]], $t[3],
                   $m[$t[4]], $t[5] + 1900, $t[2], $t[1], $t[0]);
}

die "http_date" unless http_date($E) eq $SUNSET;

# apikeyctl rotate, run here so that the blocks know what it wrote: the
# old record (with "deprecated" = the time of the rotation, and "expires"
# at the end of the grace) and the new one, both put back by the block
# that uses them, as they were.
our ($ROT_OLD_KEY, $ROT_NEW_KEY, @ROT_OLD, @ROT_NEW, $ROT_DEP, $ROT_EXP);
{
    my $ctl = $ENV{TEST_NGINX_APIKEYCTL} || 'build/apikeyctl';
    $ROT_OLD_KEY = ApikeyTest::make_key('RoTaTe00000000000000000000000039');
    my $d = ApikeyTest::add_key($ROT_OLD_KEY, id => 'k-rotate', owner => 'acme',
                                access => 'full', expires => '4102444800');
    my $t0 = time;
    my $out = `$ctl --redis 127.0.0.1:$ApikeyTest::REDIS_PORT rotate k-rotate --grace 24h 2>/dev/null`;
    my $t1 = time;
    die "apikeyctl rotate failed: $?" if $?;
    ($ROT_NEW_KEY) = $out =~ /^(\S+)\s*$/ or die "no new key";
    @ROT_OLD = @{ ApikeyTest::redis('HGETALL', "apikey:key:$d") };
    @ROT_NEW = @{ ApikeyTest::redis('HGETALL',
                      "apikey:key:" . ApikeyTest::digest($ROT_NEW_KEY)) };
    my %old = @ROT_OLD;
    my %new = @ROT_NEW;
    ($ROT_DEP, $ROT_EXP) = @old{qw(deprecated expires)};
    die "rotate: \"deprecated\" is not the time of the rotation"
        unless defined $ROT_DEP && $ROT_DEP >= $t0 && $ROT_DEP <= $t1;
    die "rotate: \"expires\" is not the end of the grace"
        unless $ROT_EXP == $ROT_DEP + 86400;
    die "rotate: the new record is deprecated" if exists $new{deprecated};
    die "rotate: the new record is not the old one's successor"
        unless ($new{rotated_from} // '') eq 'k-rotate';
}

# a snapshot of the format before "deprecated" (APIKEYSNAP2): whole, with
# its digest, but of another version
our $DIR = ($ENV{TEST_NGINX_SERVROOT} || 't/servroot') . '-sunset';
make_path($DIR);
unlink "$DIR/keys.snap";
system('python3', '-c', 'import hashlib, sys
b = b"APIKEYSNAP2\n" + bytes(33) + bytes(4)
open(sys.argv[1], "wb").write(b + hashlib.blake2b(b, digest_size=32).digest())',
       "$DIR/v2.snap") == 0 or die "v2.snap";

our $CONF = <<'_EOC_';
    apikey_expiry_warning 7d link=https://docs.example.com/keys/rotation;

    location /api/ {
        apikey on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /nolink/ {
        apikey on;
        apikey_expiry_warning 7d;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /off/ {
        apikey on;
        apikey_expiry_warning off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /hour/ {
        apikey on;
        apikey_expiry_warning 1h;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
_EOC_

our $INIT = 'ApikeyTest::seed(keys => \@::KEYS)';

sub at {
    my ($k, $t) = @_;
    my $key = $K{$k} // $ApikeyTest::KEY{$k} // die "no key $k";
    return "X-Secret-Key: $key\r\nX-Apikey-Test-Now: $t";
}

our $LINK_S = "<$URL>; rel=\"sunset\"";
our $LINK_D = "<$URL>; rel=\"deprecation\"";
our $BACKEND = "backend GET /backend/x x-secret-key=[] authorization=[]\n";

run_tests();

__DATA__

=== TEST 1: the warning starts exactly "time" before "expires", and ends with the key
--- init eval: $::INIT
--- config eval: $::CONF
--- request eval
[("GET /api/x") x 5]
--- more_headers eval
[::at("sun", $::E - $::WEEK - 1), ::at("sun", $::E - $::WEEK),
 ::at("sun", $::E - 1), ::at("sun", $::E), ::at("sun", $::E + 3600)]
--- error_code eval
[200, 200, 200, 401, 401]
--- response_headers eval
["!Sunset\n!Link\n!Deprecation",
 "Sunset: $::SUNSET\nLink: $::LINK_S\n!Deprecation",
 "Sunset: $::SUNSET\nLink: $::LINK_S\n!Deprecation",
 "!Sunset\n!Link\n!Deprecation",
 "!Sunset\n!Link\n!Deprecation"]
--- response_body eval
[$::BACKEND, $::BACKEND, $::BACKEND,
 '{"detail":"API key expired"}', '{"detail":"API key expired"}']



=== TEST 2: a rotated key: Deprecation is the record's "deprecated", and both Links
--- init eval: $::INIT
--- config eval: $::CONF
--- request eval
[("GET /api/x") x 3]
--- more_headers eval
[::at("dep", $::E - $::WEEK - 1), ::at("dep", $::E - $::WEEK),
 ::at("dep", $::E - 10)]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["!Sunset\n!Link\n!Deprecation",
 "Deprecation: \@$::D\nSunset: $::SUNSET\nLink: $::LINK_D, $::LINK_S",
 "Deprecation: \@$::D\nSunset: $::SUNSET\nLink: $::LINK_D, $::LINK_S"]



=== TEST 3: no Link where the directive names no URL
--- init eval: $::INIT
--- config eval: $::CONF
--- request eval
["GET /nolink/x", "GET /nolink/x"]
--- more_headers eval
[::at("dep", $::E - 10), ::at("sun", $::E - 10)]
--- error_code eval
[200, 200]
--- response_headers eval
["Deprecation: \@$::D\nSunset: $::SUNSET\n!Link",
 "Sunset: $::SUNSET\n!Link\n!Deprecation"]



=== TEST 4: "off" in a location turns the warning off there
--- init eval: $::INIT
--- config eval: $::CONF
--- request eval
["GET /off/x", "GET /off/x", "GET /api/x"]
--- more_headers eval
[::at("dep", $::E - 10), ::at("sun", $::E - 10), ::at("sun", $::E - 10)]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["!Sunset\n!Link\n!Deprecation", "!Sunset\n!Link\n!Deprecation",
 "Sunset: $::SUNSET"]
--- response_body eval
[$::BACKEND, $::BACKEND, $::BACKEND]



=== TEST 5: a location's own time, at the second; the link is not inherited without it
--- init eval: $::INIT
--- config eval: $::CONF
--- request eval
[("GET /hour/x") x 3]
--- more_headers eval
[::at("sun", $::E - 3601), ::at("sun", $::E - 3600), ::at("dep", $::E - 3600)]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["!Sunset\n!Link",
 "Sunset: $::SUNSET\n!Link\n!Deprecation",
 "Deprecation: \@$::D\nSunset: $::SUNSET\n!Link"]



=== TEST 6: a key without "expires" never ends: no Sunset, and no Deprecation either
--- init eval: $::INIT
--- config eval: $::CONF
--- request eval
["GET /api/x", "GET /api/x"]
--- more_headers eval
[::at("never", $::E), ::at("full", $::E)]
--- error_code eval
[200, 200]
--- response_headers eval
["!Sunset\n!Link\n!Deprecation", "!Sunset\n!Link\n!Deprecation"]



=== TEST 7: "deprecated" later than "expires": Sunset alone (RFC 9745: never earlier)
--- init eval: $::INIT
--- config eval: $::CONF
--- request eval
["GET /api/x"]
--- more_headers eval
[::at("inv", $::E - 10)]
--- error_code eval
[200]
--- response_headers eval
["Sunset: $::SUNSET\nLink: $::LINK_S\n!Deprecation"]



=== TEST 8: 403 forbidden and 429 carry the warning; 403 ip and 401 do not
--- init eval: $::INIT
--- config eval: $::CONF
--- request eval
["POST /api/x", "GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x"]
--- more_headers eval
[::at("ro", $::E - 10), ::at("zero", $::E - 10), ::at("ipd", $::E - 10),
 "X-Secret-Key: nosuchkey\r\nX-Apikey-Test-Now: " . ($::E - 10),
 "X-Apikey-Test-Now: " . ($::E - 10)]
--- error_code eval
[403, 429, 403, 401, 401]
--- response_headers eval
["Sunset: $::SUNSET\nLink: $::LINK_S",
 "Sunset: $::SUNSET\nLink: $::LINK_S\nX-RateLimit-Limit: 0",
 "!Sunset\n!Link", "!Sunset\n!Link", "!Sunset\n!Link"]
--- response_body eval
['{"detail":"API key lacks permission for this operation"}',
 '{"detail":"Rate limit exceeded"}',
 '{"detail":"Client address not allowed for this API key"}',
 '{"detail":"Invalid API key"}', '{"detail":"Missing API key"}']



=== TEST 9: a "deprecated" that is not a number skips the record
--- init eval: $::INIT
--- config eval: $::CONF
--- more_headers eval
::at("bad", $::E - 10)
--- request
GET /api/x
--- error_code: 401
--- response_body: {"detail":"Invalid API key"}
--- error_log
skipped the record with id "k-baddep": "deprecated" is not a number of seconds



=== TEST 10: apikeyctl rotate: the old key announces its rotation and its end, the new one nothing
--- init
ApikeyTest::seed(keys => [[$::ROT_OLD_KEY, @::ROT_OLD],
                          [$::ROT_NEW_KEY, @::ROT_NEW]])
--- config eval: $::CONF
--- request eval
["GET /api/x", "GET /api/x"]
--- more_headers eval
["X-Secret-Key: $::ROT_OLD_KEY", "X-Secret-Key: $::ROT_NEW_KEY"]
--- error_code eval
[200, 200]
--- response_headers eval
["Deprecation: \@$::ROT_DEP\nSunset: " . ::http_date($::ROT_EXP)
 . "\nLink: $::LINK_D, $::LINK_S",
 "!Sunset\n!Link\n!Deprecation"]



=== TEST 11: after an internal redirect, the location that answers decides
The key is decided in /quiet/ (warning off), then again in @loud, which
answers; and the other way round.
--- init eval: $::INIT
--- config eval
$::CONF . q{
    location /quiet/ {
        apikey on;
        apikey_expiry_warning off;
        try_files /nonexistent @loud;
    }
    location @loud {
        apikey on;
        rewrite ^ /backend/x break;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
    location /loud/ {
        apikey on;
        try_files /nonexistent @quiet;
    }
    location @quiet {
        apikey on;
        apikey_expiry_warning off;
        rewrite ^ /backend/x break;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
}
--- request eval
["GET /quiet/x", "GET /loud/x"]
--- more_headers eval
[::at("dep", $::E - 10), ::at("dep", $::E - 10)]
--- error_code eval
[200, 200]
--- response_body eval
[$::BACKEND, $::BACKEND]
--- response_headers eval
["Deprecation: \@$::D\nSunset: $::SUNSET\nLink: $::LINK_D, $::LINK_S",
 "!Sunset\n!Link\n!Deprecation"]



=== TEST 12: the record's "deprecated" is kept in the snapshot
--- http_config eval
$ApikeyTest::HTTP_CONFIG . "apikey_snapshot $::DIR/keys.snap;"
--- init eval: $::INIT
--- config eval: $::CONF
--- request eval
["GET /api/x",
 "GET /ctl/nginx-log?wait=20&match=snapshot%20of%20%5Cd%2B%20keys%20written"]
--- more_headers eval
[::at("dep", $::E - 10), ""]
--- error_code eval
[200, 200]
--- response_body_like eval
["^backend", "^lines=[1-9]"]



=== TEST 13: a start from that snapshot, Redis away, tells the same
--- fresh_zone
--- init: 1
--- http_config eval
"apikey_zone keys:4m; apikey_redis 127.0.0.1:1; apikey_snapshot $::DIR/keys.snap;"
--- config eval: $::CONF
--- request eval
["GET /api/x", "GET /api/x"]
--- more_headers eval
[::at("dep", $::E - 10), ::at("sun", $::E - 10)]
--- error_code eval
[200, 200]
--- response_headers eval
["Deprecation: \@$::D\nSunset: $::SUNSET\nLink: $::LINK_D, $::LINK_S",
 "Sunset: $::SUNSET\n!Deprecation"]



=== TEST 14: a snapshot in the format before "deprecated" is not used, and the log says why
--- fresh_zone
--- init: 1
--- http_config eval
"apikey_zone keys:4m; apikey_redis 127.0.0.1:1; apikey_snapshot $::DIR/v2.snap;"
--- config eval: $::CONF
--- more_headers eval
::at("sun", $::E - 10)
--- request
GET /api/x
--- error_code: 503
--- error_log eval
[qr/snapshot ".*v2\.snap" has the format of another version \("APIKEYSNAP2"\), not used/]



=== TEST 15: nginx -t: a time that is not one
--- config
    location /api/ { apikey on; apikey_expiry_warning soon; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "soon" in "apikey_expiry_warning" directive, it must be a time from 1s to 365d, or "off"



=== TEST 16: nginx -t: zero
--- config
    location /api/ { apikey on; apikey_expiry_warning 0; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "0" in "apikey_expiry_warning" directive



=== TEST 17: nginx -t: more than a year
--- config
    location /api/ { apikey on; apikey_expiry_warning 366d; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "366d" in "apikey_expiry_warning" directive



=== TEST 18: nginx -t: a parameter other than link=
--- config
    location /api/ { apikey on; apikey_expiry_warning 7d docs=https://x/; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid parameter "docs=https://x/" in "apikey_expiry_warning" directive, it must be "link=URL"



=== TEST 19: nginx -t: an empty link
--- config
    location /api/ { apikey on; apikey_expiry_warning 7d link=; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid parameter "link=" in "apikey_expiry_warning" directive, it must be "link=URL"



=== TEST 20: nginx -t: a link that would break the header
--- config
    location /api/ { apikey on; apikey_expiry_warning 7d "link=https://x/a>b"; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid URL "https://x/a>b" in "apikey_expiry_warning" directive



=== TEST 21: nginx -t: "off" takes no link
--- config
    location /api/ { apikey on; apikey_expiry_warning off link=https://x/; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid parameter "link=https://x/" in "apikey_expiry_warning" directive: "off" takes none



=== TEST 22: nginx -t: twice in one place
--- config
    location /api/ { apikey on; apikey_expiry_warning 7d; apikey_expiry_warning 1d; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
"apikey_expiry_warning" directive is duplicate
