# Keys imported from another issuer by their SHA-256 digests (docs/keys.md,
# "Importing existing keys"): "apikey:key:sha256:<hex>" records looked up
# with apikey_legacy_hash when the module's own digest misses, with and
# without a pepper; never used with the directive off; kept apart from the
# module's own records in the mirror and the snapshot; changed, revoked and
# deleted through events and the change log; "apikeyctl import" of a CSV
# (10,000 lines, bad lines, a resumed import) and apikeyctl's commands by
# id on imported keys.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;
use File::Path qw(make_path);
use Digest::SHA qw(sha256_hex hmac_sha256_hex);

apikey_setup();
no_shuffle();

our $DIR = ($ENV{TEST_NGINX_SERVROOT} || 't/servroot') . '-legacy';
make_path($DIR);
unlink glob "$DIR/*";

our $CTL = $ENV{TEST_NGINX_APIKEYCTL} || 'build/apikeyctl';
our $REDIS = '127.0.0.1:' . ($ENV{TEST_NGINX_REDIS_PORT} || 16380);

# keys of the other issuer: no prefix or checksum of ours
our %L = (
    full => 'acme_live_LeGaCyFuLL0000000000000000001',
    read => 'acme_live_LeGaCyReAd0000000000000000002',
    lim  => 'acme_live_LeGaCyLiMiTeD00000000000000003',
    both => 'acme_live_BoTh000000000000000000000000004',
    x    => 'acme_live_CrOsSbLaKe0000000000000000005',
    y    => 'acme_live_CrOsSsHa0000000000000000000006',
    comma => 'acme_live_CoMmA00000000000000000000000007',
);

our $PEPPER = 'a pepper, of the old issuer';

# the pepper's file: the trailing newline is not part of it
open my $pf, '>', "$DIR/pepper" or die;
print $pf "$PEPPER\n";
close $pf;
open $pf, '>', "$DIR/empty-pepper" or die;
close $pf;

sub sha { sha256_hex($_[0]) }
sub hmac { hmac_sha256_hex($_[0], $PEPPER) }

sub write_csv {
    my ($name, @lines) = @_;
    open my $fh, '>', "$DIR/$name" or die;
    print $fh map { "$_\n" } @lines;
    close $fh;
    return "$DIR/$name";
}

our $HEADER = 'digest,id,owner,access,name,grants,expires,limit,ips';

sub rows {
    my ($d) = @_;
    return ($HEADER,
            $d->($L{full}) . ',legacy-full,acme,full,Old full key',
            $d->($L{read}) . ',legacy-read,acme,read',
            $d->($L{lim}) . ',legacy-lim,acme,limited,,orders:r');
}

our $PLAIN = write_csv('plain.csv', rows(\&sha));
our $PEPPERED = write_csv('peppered.csv', rows(\&hmac));

# the digests in upper case, and "sha256:" before one: both accepted
our $UPPER = write_csv('upper.csv',
                       uc(sha($L{full})) . ',legacy-full,acme,full',
                       'sha256:' . sha($L{read}) . ',legacy-read,acme,read');

# 10,000 keys, and the first 4,000 of them: an import cut short
our @BULK = map { "acme_live_BuLk" . sprintf('%026d', $_) } 1 .. 10000;
{
    my @lines = map { sha($BULK[$_ - 1]) . ",bulk-$_,owner-$_,read,Bulk $_,,"
                      . "4102444800,1000,10.0.0.0/8 127.0.0.1/32" } 1 .. 10000;
    write_csv('bulk.csv', $HEADER, @lines);
    write_csv('bulk-first.csv', @lines[0 .. 3999]);
}

# bad lines among good ones
our $BAD = write_csv('bad.csv',
    $HEADER,
    sha($L{full}) . ',legacy-full,acme,full,Old full key',   # 2: there
    substr(sha('k3'), 1) . ',bad-digest,acme,full',          # 3: 63 digits
    sha('k4') . ',bad-access,acme,admin',                    # 4
    sha('k5') . ',bad-ips,acme,full,,,,,10.0.0.0/33',        # 5
    sha('k6') . ',legacy-full,acme,full',                    # 6: id taken
    sha($L{full}) . ',other-id,acme,read',                   # 7: digest taken
    sha('k8') . ',"unclosed,acme,full',                      # 8
    sha('k9') . ',few-columns',                              # 9
    sha('k10') . ',bad-expires,acme,full,,,soon',            # 10
    sha($L{comma}) . ',legacy-comma,acme,full,"Name, with ""quotes"""',  # 11
    sha('k12') . ",bad-name,acme,full,tab\there");           # 12

sub import_csv {
    my ($file, @opt) = @_;
    my $out = `$CTL --redis $REDIS import @opt $file 2>&1`;
    return ($? >> 8, $out);
}

# the status a key gets on /api/x now
sub code_of {
    my ($key, $method) = @_;
    my $port = $ENV{TEST_NGINX_SERVER_PORT} || 1984;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 2)
        or return 0;
    $s->print(($method || 'GET') . " /api/x HTTP/1.0\r\nHost: localhost\r\n"
              . "X-Secret-Key: $key\r\n\r\n");
    my $line = <$s> // '';
    return $line =~ m{^HTTP/1\.\d (\d+)} ? $1 : 0;
}

sub wait_code {
    my ($key, $code) = @_;
    for (1 .. 500) {
        return 1 if code_of($key) == $code;
        select(undef, undef, undef, 0.01);
    }
    die "key never answered $code";
}

# the standard keys, then an import; waits until its first key is seen
sub seed_legacy {
    my ($file, $probe, $code, @opt) = @_;
    ApikeyTest::seed();
    my ($rc, $out) = import_csv($file, @opt);
    die "import failed: $out" if $rc;
    wait_code($probe, $code) if $probe;
    return 1;
}

# the module reads the change log: an epoch, and a "d *" it has applied
sub on_change_log {
    ApikeyTest::redis('SET', 'apikey:epoch', 'epoch-legacy');
    my $id = ApikeyTest::redis('XADD', 'apikey:changes', '*', 'd', '*');
    for (1 .. 500) {
        my $port = $ENV{TEST_NGINX_SERVER_PORT} || 1984;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp',
                                      Timeout => 2) or next;
        $s->print("GET /status HTTP/1.0\r\nHost: localhost\r\n\r\n");
        local $/;
        return 1 if (<$s> // '') =~ /"position":"\Q$id\E"/;
        select(undef, undef, undef, 0.01);
    }
    die "the change log was not read";
}

sub k { "X-Secret-Key: " . ($L{$_[0]} // $ApikeyTest::KEY{$_[0]}) }

sub esc {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9\-_.~])/sprintf("%%%02X", ord $1)/ge;
    return $s;
}

sub ctl { "GET /ctl/apikeyctl?" . join('&', map { "a=" . esc($_) } @_) }
sub ctl_out { ctl(@_) . "&out=1" }
sub send_saved { "GET /ctl/send?key=$_[0]&method=$_[1]&path=/api/x" }

sub seq {
    return "GET /ctl/redis-seq?" . join '&', map { "c=" . esc($_) } @_;
}

sub wait_key {
    my ($key, $status) = @_;
    my $port = $ENV{TEST_NGINX_SERVER_PORT} || 1984;
    return "GET /ctl/wait-key?port=$port&key=" . esc($key)
           . "&path=/api/x&status=$status&timeout=10";
}

our $ON = $ApikeyTest::HTTP_CONFIG . "    apikey_legacy_hash sha256;\n";
our $PEPPERED_ON = $ApikeyTest::HTTP_CONFIG
                   . "    apikey_legacy_hash sha256 pepper_file=$DIR/pepper;\n";
our $API = $ApikeyTest::API;

run_tests();

__DATA__

=== TEST 1: imported SHA-256 keys work, with their records' access
--- http_config eval: $::ON
--- config eval: $::API
--- init: ::seed_legacy($::PLAIN, $::L{full}, 200)
--- request eval
["GET /api/x", "POST /api/x", "GET /api/x", "POST /api/x", "GET /api/x",
 "GET /api/x", "GET /api/x"]
--- more_headers eval
[::k("full"), ::k("full"), ::k("read"), ::k("read"), ::k("lim"),
 "X-Secret-Key: acme_live_NoSuChKeY0000000000000000099", ::k("full")]
--- error_code eval
[200, 200, 200, 403, 403, 401, 200]



=== TEST 2: the directive off: imported records are loaded, never used
--- config eval: $::API
--- init: ::seed_legacy($::PLAIN, $ApikeyTest::KEY{full}, 200)
--- request eval
["GET /api/x", "GET /api/x", "GET /api/x", "GET /status"]
--- more_headers eval
[::k("full"), ::k("read"), "X-Secret-Key: $ApikeyTest::KEY{full}", ""]
--- error_code eval
[401, 401, 200, 200]
--- response_body_like eval
['^\{"detail":"Invalid API key"\}$', 'Invalid API key', "^backend",
 '"keys":13,']



=== TEST 3: with a pepper: HMAC-SHA-256 digests, the file's newline dropped
--- http_config eval: $::PEPPERED_ON
--- config eval: $::API
--- init
::seed_legacy($::PEPPERED, $::L{full}, 200, '--pepper-scheme', 'hmac-sha256');
# a plain SHA-256 record is not found where the digest is peppered
ApikeyTest::redis('HSET', 'apikey:key:sha256:' . ::sha($::L{both}),
                  'id', 'plain-both', 'access', 'full');
ApikeyTest::redis('PUBLISH', 'apikey:events', 'sha256:' . ::sha($::L{both}));
--- request eval
["GET /api/x", "POST /api/x", "GET /api/x", "GET /api/x"]
--- more_headers eval
[::k("full"), ::k("read"), ::k("both"), "X-Secret-Key: $ApikeyTest::KEY{read}"]
--- error_code eval
[200, 403, 401, 200]



=== TEST 4: the peppered records without the pepper: not found
--- http_config eval: $::ON
--- config eval: $::API
--- init: ::seed_legacy($::PEPPERED, $ApikeyTest::KEY{full}, 200, '--pepper-scheme', 'hmac-sha256')
--- request eval
["GET /api/x", "GET /api/x"]
--- more_headers eval
[::k("full"), ::k("read")]
--- error_code eval
[401, 401]



=== TEST 5: apikey_checksum and apikey_prefix still apply before any lookup
--- http_config eval: $::ON
--- config
    location /api/ {
        apikey on;
        apikey_checksum on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /prefixed/ {
        apikey on;
        apikey_prefix acme_live_;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- init: ::seed_legacy($::PLAIN, $ApikeyTest::KEY{full}, 200)
--- request eval
["GET /api/x", "GET /api/x", "GET /prefixed/x", "GET /prefixed/x"]
--- more_headers eval
[::k("full"), "X-Secret-Key: $ApikeyTest::KEY{full}", ::k("full"),
 "X-Secret-Key: $ApikeyTest::KEY{full}"]
--- error_code eval
[401, 200, 200, 401]



=== TEST 6: the module's own record is found first; schemes never meet
"both" has a read record of ours and a full imported one: ours decides.
"x" is known only by an imported record named by its BLAKE2b digest, "y"
only by a record of ours named by its SHA-256 digest: neither is found.
--- http_config eval: $::ON
--- config eval: $::API
--- init
ApikeyTest::seed(keys => [[$::L{both}, id => 'both-ours', access => 'read']]);
ApikeyTest::redis('HSET', 'apikey:key:sha256:' . ::sha($::L{both}),
                  'id', 'both-imported', 'access', 'full');
ApikeyTest::redis('HSET', 'apikey:key:sha256:' . ApikeyTest::digest($::L{x}),
                  'id', 'x-cross', 'access', 'full');
ApikeyTest::redis('HSET', 'apikey:key:' . ::sha($::L{y}),
                  'id', 'y-cross', 'access', 'full');
ApikeyTest::redis('HSET', 'apikey:key:sha256:' . ::sha($::L{full}),
                  'id', 'legacy-full', 'access', 'full');
ApikeyTest::resync();
--- request eval
["GET /api/x", "POST /api/x", "GET /api/x", "GET /api/x", "GET /api/x",
 "GET /status"]
--- more_headers eval
[::k("both"), ::k("both"), ::k("x"), ::k("y"), ::k("full"), ""]
--- error_code eval
[200, 403, 401, 401, 200, 200]
--- response_body_like eval
["", "", "", "", "", '"keys":15,']



=== TEST 7: the change log: "d sha256:<hex>" updates and deletes
Written without any PUBLISH: only the change log can carry them.
--- http_config eval: $::ON
--- config eval: $::API
--- init
::seed_legacy($::PLAIN, $::L{full}, 200);
::on_change_log();
--- request eval
my $h = ::sha($::L{full});
["GET /api/x",
 ::seq("HSET apikey:key:sha256:$h active 0",
       "XADD apikey:changes * d sha256:$h"),
 ::wait_key($::L{full}, 401),
 ::seq("HSET apikey:key:sha256:$h active 1",
       "XADD apikey:changes * d sha256:$h"),
 ::wait_key($::L{full}, 200),
 ::seq("DEL apikey:key:sha256:$h", "XADD apikey:changes * d sha256:$h"),
 ::wait_key($::L{full}, 401),
 "GET /status"]
--- more_headers eval
[::k("full"), "", "", "", "", "", "", ""]
--- response_body_like eval
["^backend", "", "matched", "", "matched", "", "matched", '"keys":12,']



=== TEST 8: the events channel: "sha256:<hex>" published
--- http_config eval: $::ON
--- config eval: $::API
--- init: ::seed_legacy($::PLAIN, $::L{full}, 200)
--- request eval
my $h = ::sha($::L{read});
[::seq("HSET apikey:key:sha256:$h access full",
       "PUBLISH apikey:events sha256:$h"),
 ::wait_key($::L{read}, 200),
 "POST /api/x",
 ::seq("DEL apikey:key:sha256:$h", "PUBLISH apikey:events sha256:$h"),
 ::wait_key($::L{read}, 401)]
--- more_headers eval
["", "", ::k("read"), "", ""]
--- response_body_like eval
["", "matched", "^backend POST", "", "matched"]



=== TEST 9: apikeyctl by id on imported keys: show, list, update, revoke, delete
--- http_config eval: $::ON
--- config eval: $::API
--- init: ::seed_legacy($::PLAIN, $::L{full}, 200)
--- request eval
["GET /api/x",
 ::ctl_out(qw(show legacy-full)),
 ::ctl_out(qw(--json list)),
 ::ctl_out(qw(update legacy-full --limit 7)),
 ::seq("HGET apikey:key:sha256:" . ::sha($::L{full}) . " limit"),
 ::ctl(qw(revoke legacy-full)) . "&sleep=0.1",
 "GET /api/x",
 ::ctl(qw(delete legacy-lim)) . "&sleep=0.1",
 "GET /api/x",
 ::seq("EXISTS apikey:key:sha256:" . ::sha($::L{lim}) . " apikey:id:legacy-lim"),
 ::seq("XREVRANGE apikey:changes + - COUNT 1")]
--- more_headers eval
[::k("full"), "", "", "", "", "", ::k("full"), "", ::k("lim"), "", ""]
--- error_code eval
[200, 200, 200, 200, 200, 200, 401, 200, 401, 200, 200]
--- response_body_like eval
my $h = ::sha($::L{full});
my $l = ::sha($::L{lim});
["^backend",
 "exit=0\ndigest +sha256:$h\nid +legacy-full\nowner +acme\nname +Old full key\naccess +full\n",
 "exit=0\n.*\\{\"digest\":\"sha256:$h\",\"id\":\"legacy-full\"",
 "^exit=0\nupdated legacy-full: limit 7\n",
 '^\["7"\]$',
 "exit=0",
 '^\{"detail":"Invalid API key"\}$',
 "exit=0",
 '^\{"detail":"Invalid API key"\}$',
 '^\[0\]$',
 "\"d\", \"sha256:$l\""]



=== TEST 10: apikeyctl rotate replaces an imported key by one of ours
--- http_config eval: $::ON
--- config eval: $::API
--- init: ::seed_legacy($::PLAIN, $::L{read}, 200)
--- request eval
[::ctl(qw(rotate legacy-read --grace 1h)) . "&save=new&sleep=0.1",
 ::send_saved("new", "GET"),
 ::send_saved("new", "POST"),
 "GET /api/x",
 ::seq("HGET apikey:key:sha256:" . ::sha($::L{read}) . " expires")]
--- more_headers eval
["", "", "", ::k("read"), ""]
--- response_body_like eval
["exit=0", "^200 backend GET", "^403 ", "^backend GET", '^\["\d{10}"\]$']



=== TEST 11: the snapshot keeps imported records apart, with their scheme
--- http_config eval
$::ON . "    apikey_snapshot $::DIR/keys.snap;\n"
--- config eval: $::API
--- init
ApikeyTest::seed(keys => [[$::L{both}, id => 'both-ours', access => 'read']]);
ApikeyTest::redis('HSET', 'apikey:key:sha256:' . ApikeyTest::digest($::L{x}),
                  'id', 'x-cross', 'access', 'full');
ApikeyTest::redis('HSET', 'apikey:key:' . ::sha($::L{y}),
                  'id', 'y-cross', 'access', 'full');
ApikeyTest::redis('HSET', 'apikey:key:sha256:' . ::sha($::L{both}),
                  'id', 'both-imported', 'access', 'full');
my ($rc, $out) = ::import_csv($::PLAIN);
die $out if $rc;
# a full load, whose end writes the snapshot: with no change log left,
# "*" asks for one
ApikeyTest::redis('DEL', 'apikey:changes');
ApikeyTest::resync() or die "no full load";
::wait_code($::L{full}, 200);
--- request eval
["GET /api/x", "GET /ctl/sleep?sleep=0.5"]
--- more_headers eval
[::k("full"), ""]
--- error_code eval
[200, 200]



=== TEST 12: ... read back by an nginx that cannot reach Redis
A start with Redis unreachable, which reads the snapshot: a fresh zone.
--- fresh_zone
--- init
open my $fh, '<', "$::DIR/keys.snap" or die "no snapshot: $!";
my $head;
read $fh, $head, 12;
die "snapshot version: $head" unless $head eq "APIKEYSNAP5\n";
--- http_config eval
"apikey_zone keys:4m; apikey_redis 127.0.0.1:1; apikey_legacy_hash sha256;"
. " apikey_snapshot $::DIR/keys.snap;"
--- config eval: $::API
--- request eval
["GET /api/x", "POST /api/x", "POST /api/x", "GET /api/x", "GET /api/x",
 "GET /api/x", "GET /status"]
--- more_headers eval
[::k("full"), ::k("read"), ::k("both"), ::k("x"), ::k("y"), ::k("lim"), ""]
--- error_code eval
[200, 403, 403, 401, 401, 403, 200]
--- response_body_like eval
["", "", "", "", "", "", '"keys":17,"loaded":true,.*"from_snapshot":true']



=== TEST 13: ... and without the directive, the imported keys are not used
--- fresh_zone
--- init: 1
--- http_config eval
"apikey_zone keys:4m; apikey_redis 127.0.0.1:1; apikey_snapshot $::DIR/keys.snap;"
--- config eval: $::API
--- request eval
["GET /api/x", "POST /api/x"]
--- more_headers eval
[::k("full"), ::k("both")]
--- error_code eval
[401, 403]



=== TEST 14: 10,000 lines imported, then the same file again: nothing new
--- http_config
    apikey_zone keys:32m;
    apikey_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    apikey_legacy_hash sha256;
--- config eval: $::API
--- request eval
[::ctl_out("import", "$::DIR/bulk.csv"),
 ::wait_key($::BULK[9999], 200),
 ::wait_key($::BULK[0], 200),
 "POST /api/x",
 ::ctl_out("import", "$::DIR/bulk.csv"),
 "GET /status"]
--- more_headers eval
["", "", "", "X-Secret-Key: $::BULK[4999]", "", ""]
--- error_code eval
[200, 200, 200, 403, 200, 200]
--- response_body_like eval
['^exit=0\nimported 10000, unchanged 0, refused 0\n$', "matched", "matched",
 '^\{"detail":"API key lacks permission',
 '^exit=0\nimported 0, unchanged 10000, refused 0\n$',
 '"keys":10010,']
--- timeout: 60



=== TEST 15: an import cut short, run again: the rest written, no duplicate
--- http_config
    apikey_zone keys:32m;
    apikey_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    apikey_legacy_hash sha256;
--- config eval: $::API
--- request eval
[::ctl_out("import", "$::DIR/bulk-first.csv"),
 ::wait_key($::BULK[3999], 200),
 ::ctl_out("--json", "import", "$::DIR/bulk.csv"),
 ::wait_key($::BULK[9999], 200),
 ::seq("XLEN apikey:changes"),
 "GET /status"]
--- response_body_like eval
['^exit=0\nimported 4000, unchanged 0, refused 0\n$', "matched",
 '^exit=0\n\{"imported":6000,"unchanged":4000,"refused":0\}\n$', "matched",
 '^\[10000\]$', '"keys":10010,']
--- timeout: 60



=== TEST 16: bad lines are refused by number; the good lines are written
--- http_config eval: $::ON
--- config eval: $::API
--- init: ::seed_legacy($::PLAIN, $::L{full}, 200)
--- request eval
[::ctl_out("import", $::BAD),
 ::wait_key($::L{comma}, 200),
 ::seq("HGET apikey:key:sha256:" . ::sha($::L{comma}) . " name"),
 ::ctl_out("import", $::BAD)]
--- response_body_like eval
["^exit=1\nimported 1, unchanged 1, refused 9\n"
 . "apikeyctl: line 3: refused: the digest is not 64 hex digits.*\n"
 . "apikeyctl: line 4: refused: access must be full, read or limited\n"
 . "apikeyctl: line 5: refused: ips must be space-separated CIDRs\n"
 . "apikeyctl: line 8: refused: a quoted field is not closed.*\n"
 . "apikeyctl: line 9: refused: 2 columns, at least digest,id,owner,access expected\n"
 . "apikeyctl: line 10: refused: expires must be unix seconds.*\n"
 . "apikeyctl: line 12: refused: invalid owner or name.*\n"
 . "apikeyctl: line 6: refused: the id already belongs to another key\n"
 . "apikeyctl: line 7: refused: a different record with this digest exists.*\n\$",
 "matched",
 '^\["Name, with \\\\"quotes\\\\""\]$',
 "^exit=1\nimported 0, unchanged 2, refused 9\n"]



=== TEST 17: digests of either case, "sha256:" before them or not
--- http_config eval: $::ON
--- config eval: $::API
--- init: ApikeyTest::seed()
--- request eval
[::ctl_out("import", $::UPPER),
 ::wait_key($::L{read}, 200),
 ::wait_key($::L{full}, 200),
 ::seq("GET apikey:id:legacy-full")]
--- response_body_like eval
['^exit=0\nimported 2, unchanged 0, refused 0\n$', "matched", "matched",
 '^\["sha256:' . ::sha($::L{full}) . '"\]$']



=== TEST 18: one key set holds one kind of digest
--- http_config eval: $::ON
--- config eval: $::API
--- init: ::seed_legacy($::PLAIN, $::L{full}, 200)
--- request eval
[::ctl_out("import", "--pepper-scheme", "hmac-sha256", $::PEPPERED),
 ::ctl_out("import", "--pepper-scheme", "md5", $::PEPPERED),
 ::ctl_out("import", "$::DIR/none.csv"),
 ::seq("GET apikey:legacy-scheme", "EXISTS apikey:id:legacy-lim")]
--- response_body_like eval
['^exit=1\napikeyctl: the imported keys of this key set are sha256 digests '
 . '\(apikey:legacy-scheme\), not hmac-sha256; nothing imported\n$',
 '^exit=1\napikeyctl: invalid --pepper-scheme "md5"',
 '^exit=1\napikeyctl: cannot open ',
 '^\["sha256", 1\]$']



=== TEST 19: apikey_legacy_hash: bad values at nginx -t
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:6379;
    apikey_legacy_hash md5;
--- config
--- must_die
--- error_log
invalid value "md5" in "apikey_legacy_hash" directive, it must be "sha256" or "off"



=== TEST 20: an unknown parameter
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:6379;
    apikey_legacy_hash sha256 salt=x;
--- config
--- must_die
--- error_log
invalid parameter "salt=x" in "apikey_legacy_hash" directive



=== TEST 21: an empty pepper file
--- http_config eval
"apikey_zone keys:4m; apikey_redis 127.0.0.1:6379;
 apikey_legacy_hash sha256 pepper_file=$::DIR/empty-pepper;"
--- config
--- must_die
--- error_log eval
qr/pepper file ".*empty-pepper" in "apikey_legacy_hash" directive must hold 1 to 1024 bytes/



=== TEST 22: a pepper file that cannot be opened
--- http_config eval
"apikey_zone keys:4m; apikey_redis 127.0.0.1:6379;
 apikey_legacy_hash sha256 pepper_file=$::DIR/no-such-pepper;"
--- config
--- must_die
--- error_log eval
qr/cannot open ".*no-such-pepper" in "apikey_legacy_hash" directive/



=== TEST 23: twice
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:6379;
    apikey_legacy_hash sha256;
    apikey_legacy_hash off;
--- config
--- must_die
--- error_log
"apikey_legacy_hash" directive is duplicate



=== TEST 24: the pepper is never in a log line, even at debug level
--- http_config eval: $::PEPPERED_ON
--- config eval: $::API
--- init: ::seed_legacy($::PEPPERED, $::L{full}, 200, '--pepper-scheme', 'hmac-sha256')
--- main_config
    error_log logs/error.log debug;
--- request
GET /api/x
--- more_headers eval: ::k("full")
--- error_code: 200
--- no_error_log eval
[$::PEPPER, "exited on signal"]
