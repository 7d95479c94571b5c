package ApikeyTest;

# Fixtures shared by the t/*.t files: a small Redis client, keys in the
# format and the records of docs/keys.md, and a block
# preprocessor that adds what every block needs (load_module, the http
# settings, a backend, the status and control locations).  It only uses
# Test::Nginx::Socket's public functions, so it works under the real CPAN
# module and under our runner in t/compat alike.

use strict;
use warnings;

use IO::Socket::INET;
use Compress::Zlib ();
use Test::Nginx::Socket ();

use Exporter 'import';
our @EXPORT = qw(apikey_setup redis seed add_key make_key digest key_of
                 %KEY);

our $REDIS_PORT = $ENV{TEST_NGINX_REDIS_PORT} || 16380;
our $PREFIX = 'apikey:';
our $SECRET;

our %KEY;

# Records of keys nobody holds, "apikey:key:<i in 64 hex digits>" for i
# from ARGV[1] to ARGV[2], named ARGV[3]; or deleted with ARGV[3] = "".
our $BULK = q{
    for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do
        local k = 'apikey:key:' .. string.format('%064x', i)
        if ARGV[3] == '' then
            redis.call('DEL', k)
        else
            redis.call('HSET', k, 'id', 'bulk-' .. i, 'access', 'full',
                       'name', ARGV[3])
        end
    end
    return 1
};

my @B62 = ('0' .. '9', 'A' .. 'Z', 'a' .. 'z');

sub checksum {
    my ($s) = @_;
    my $crc = Compress::Zlib::crc32($s);
    my $out = '';
    for (1 .. 6) {
        $out = $B62[$crc % 62] . $out;
        $crc = int($crc / 62);
    }
    return $out;
}

sub make_key {
    my ($random, $prefix) = @_;
    $prefix //= 'taapit_';
    my $body = $prefix . $random;
    return $body . checksum($body);
}

# BLAKE2b-256, keyed with the hash secret when one is given, as libsodium's
# crypto_generichash computes it; python3's hashlib is the reference here.
my %digest_cache;

sub digest {
    my ($key, $secret) = @_;
    $secret //= $SECRET;
    my $ck = ($secret // '') . "\0" . $key;
    prime_digests($secret, $key) unless exists $digest_cache{$ck};
    return $digest_cache{$ck};
}

# One python3 run for many keys: starting it costs more than hashing.
sub prime_digests {
    my ($secret, @keys) = @_;
    # only those not known yet: python3 may take seconds to start on a
    # loaded machine, which a block that times its init cannot afford
    @keys = grep { !exists $digest_cache{($secret // '') . "\0" . $_} } @keys;
    return unless @keys;
    my $hexsecret = defined $secret ? unpack('H*', $secret) : '';
    my $args = join ' ', map { unpack('H*', $_) } @keys;
    my @d = split /\n/, `python3 -c 'import hashlib,sys
for k in sys.argv[2:]: print(hashlib.blake2b(bytes.fromhex(k), digest_size=32, key=bytes.fromhex(sys.argv[1])).hexdigest())' '$hexsecret' $args`;
    die "no digests" unless @d == @keys;
    for my $i (0 .. $#keys) {
        die "bad digest" unless $d[$i] =~ /^[0-9a-f]{64}$/;
        $digest_cache{($secret // '') . "\0" . $keys[$i]} = $d[$i];
    }
}

my ($sock, $sock_port);

sub redis {
    my @args = @_;
    # a block may point $REDIS_PORT at another server (t/014)
    undef $sock if $sock && $sock_port != $REDIS_PORT;
    $sock_port = $REDIS_PORT;
    for my $try (1 .. 2) {
        $sock ||= IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                        PeerPort => $REDIS_PORT,
                                        Proto => 'tcp', Timeout => 5)
            or die "redis at $REDIS_PORT: $!";
        my $cmd = '*' . scalar(@args) . "\r\n";
        $cmd .= '$' . length($_) . "\r\n$_\r\n" for @args;
        if ($sock->print($cmd)) {
            my $r = eval { read_reply() };
            return $r unless $@;
        }
        undef $sock;
    }
    die "redis command failed: @args";
}

sub read_reply {
    my $line = <$sock>;
    die "closed" unless defined $line;
    $line =~ s/\r\n$//;
    my ($t, $rest) = (substr($line, 0, 1), substr($line, 1));
    return $rest if $t eq '+';
    return "ERR:$rest" if $t eq '-';
    return $rest + 0 if $t eq ':';
    if ($t eq '$') {
        return undef if $rest < 0;
        my $buf = '';
        while (length($buf) < $rest + 2) {
            my $n = read($sock, $buf, $rest + 2 - length($buf), length $buf);
            die "closed" unless $n;
        }
        return substr($buf, 0, $rest);
    }
    if ($t eq '*') {
        return undef if $rest < 0;
        return [ map { read_reply() } 1 .. $rest ];
    }
    die "bad reply $line";
}

sub add_key {
    my ($key, %f) = @_;
    my $d = digest($key);
    redis('HSET', "${PREFIX}key:$d", %f);
    redis('SET', "${PREFIX}id:$f{id}", $d) if defined $f{id};
    return $d;
}

sub key_of { $KEY{$_[0]} }

my %FIXTURES = (
    full      => [ 'FuLL0000000000000000000000000001',
                   id => 'k-full', owner => 'acme', name => 'Full key',
                   access => 'full' ],
    read      => [ 'ReaD0000000000000000000000000002',
                   id => 'k-read', owner => 'acme', name => 'Read key',
                   access => 'read' ],
    limited   => [ 'LiMiTeD00000000000000000000000003',
                   id => 'k-limited', owner => 'acme', name => 'Limited key',
                   access => 'limited', grants => 'orders:r billing:rw' ],
    expired   => [ 'ExPiReD00000000000000000000000004',
                   id => 'k-expired', owner => 'acme', access => 'full',
                   expires => '1000000000' ],
    inactive  => [ 'InAcTiVe0000000000000000000000005',
                   id => 'k-inactive', owner => 'acme', access => 'full',
                   active => '0' ],
    ipdeny    => [ 'IpDeNy00000000000000000000000006',
                   id => 'k-ipdeny', owner => 'acme', access => 'full',
                   ips => '10.1.0.0/16 2001:db8::/32' ],
    ipallow   => [ 'IpAlLoW0000000000000000000000007',
                   id => 'k-ipallow', owner => 'acme', access => 'full',
                   ips => '10.0.0.0/8 127.0.0.0/8' ],
    quota3    => [ 'QuOtA30000000000000000000000008',
                   id => 'k-quota3', owner => 'acme', access => 'full',
                   limit => '3' ],
    unlimited => [ 'UnLiMiTeD0000000000000000000009',
                   id => 'k-unlimited', owner => 'acme', access => 'full',
                   limit => 'unlimited' ],
    future    => [ 'FuTuRe00000000000000000000000010',
                   id => 'k-future', owner => 'acme', access => 'read',
                   expires => '4102444800' ],
    badaccess => [ 'BaDaCcEsS000000000000000000000011',
                   id => 'broken-access', access => 'admin' ],
    badips    => [ 'BaDiPs00000000000000000000000012',
                   id => 'broken-ips', access => 'full',
                   ips => '10.0.0.0/33' ],
    badexpiry => [ 'BaDeXpIrY000000000000000000000013',
                   id => 'broken-expires', access => 'full',
                   expires => 'soon' ],
    noid      => [ 'NoId0000000000000000000000000014',
                   access => 'full' ],
);

for my $name (keys %FIXTURES) {
    $KEY{$name} = make_key($FIXTURES{$name}[0]);
}

# Test::Nginx runs a block's "--- init" after nginx has started, so the
# running nginx learns of the new records the way production does: by an
# event.  seed() replaces every record under the default prefix with the
# standard keys (plus any given), publishes "*" and waits until the
# module's full re-sync is done.
sub seed {
    my (%opt) = @_;
    local $SECRET = $opt{secret} if exists $opt{secret};
    eval { redis('PING') } or ctl('redis-start');
    prime_digests($SECRET, (map { $KEY{$_} } keys %FIXTURES),
                  map { $_->[0] } @{ $opt{keys} || [] });
    redis('EVAL', q{
        local n = 0
        for _, k in ipairs(redis.call('KEYS', ARGV[1] .. '*')) do
            redis.call('DEL', k)
            n = n + 1
        end
        return n
    }, 0, $PREFIX);
    for my $name (sort keys %FIXTURES) {
        my ($random, @fields) = @{ $FIXTURES{$name} };
        add_key($KEY{$name}, @fields);
    }
    for my $extra (@{ $opt{keys} || [] }) {
        add_key(@$extra);
    }
    resync();
    return 1;
}

# The location most blocks test: the module on, the request proxied to the
# echoing backend of $EXTRA_LOCATIONS.
our $API = <<'_EOC_';
    location /api/ {
        apikey on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
_EOC_

# A request to the control server's /ctl/redis (through nginx's /ctl/
# location) running one Redis command, its arguments escaped.
sub redis_url {
    my @a = map {
        my $s = $_;
        $s =~ s/([^A-Za-z0-9\-_.~])/sprintf("%%%02X", ord $1)/ge;
        "a=$s";
    } @_;
    return "GET /ctl/redis?" . join('&', @a);
}

# A request to the control server that returns once a path of the nginx
# under test answers a body matching a (Python) regular expression: it
# answers "matched", or "timed out: <the last body>".
sub wait_url {
    my ($path, $match, $timeout) = @_;
    my $e = sub {
        my $s = shift;
        $s =~ s/([^A-Za-z0-9\-_.~\/])/sprintf("%%%02X", ord $1)/ge;
        $s;
    };
    return "GET /ctl/wait?path=" . $e->($path) . "&match=" . $e->($match)
           . "&timeout=" . ($timeout || 30);
}

# The error log, read through nginx (with wait_url), for lines that come
# after the first request, or that must come more than once.
our $ERRLOG = <<'_EOC_';
    location = /errlog {
        apikey off;
        default_type text/plain;
        alias $TEST_NGINX_SERVROOT/logs/error.log;
    }
_EOC_

# An action of the control server (t/ctl/ctl.py), e.g. ctl('redis-stop').
sub ctl {
    my ($action) = @_;
    my $port = $ENV{TEST_NGINX_CTL_PORT} || 16381;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 10)
        or die "ctl at $port: $!";
    $s->print("GET /$action HTTP/1.0\r\n\r\n");
    local $/;
    my $resp = <$s>;
    die "ctl $action failed: $resp" unless $resp =~ m{^HTTP/1\.\d 200};
    return 1;
}

# Makes sure the module has loaded everything written before the call:
# two more full syncs must complete, so at least one of them started after
# the writes (one already running may have read Redis before them).  "*"
# is published until then, as the worker may not be subscribed yet.
sub resync {
    my $deadline = time + 5;
    my $st;
    until ($st = status()) {
        return 0 if time > $deadline;
        select(undef, undef, undef, 0.01);
    }
    my $want = $st->{full_syncs} + 2;
    while (time < $deadline) {
        redis('PUBLISH', "${PREFIX}events", '*');
        for (1 .. 10) {
            select(undef, undef, undef, 0.01);
            $st = status();
            return 1 if $st && $st->{full_syncs} >= $want;
        }
    }
    warn "apikey: no full re-sync within 5 s\n";
    return 0;
}

# SIGKILLs the syncing worker; returns its pid.
sub kill_sync_worker {
    my $st = status() or die "no status";
    my $pid = $st->{owner_pid} or die "no syncing worker";
    kill 'KILL', $pid or die "kill $pid: $!";
    return $pid;
}

# The sync's state and count of full syncs, from the status location.
sub status {
    my $port = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 2)
        or return undef;
    $s->print("GET /status HTTP/1.0\r\nHost: localhost\r\n\r\n");
    local $/;
    my $resp = <$s>;
    return undef unless defined $resp
        && $resp =~ /"state":"(\w+)"/;
    my $state = $1;
    return undef unless $resp =~ /"full_syncs":(\d+)/;
    my $full = $1;
    my ($owner) = $resp =~ /"owner_pid":(\d+)/;
    return { state => $state, full_syncs => $full, owner_pid => $owner };
}


our $HTTP_CONFIG = <<"_EOC_";
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;
_EOC_

our $EXTRA_LOCATIONS = <<'_EOC_';
    location /backend/ {
        apikey off;
        return 200 "backend $request_method $uri x-secret-key=[$http_x_secret_key] authorization=[$http_authorization]\n";
    }
    location = /status { apikey_status; }
    location /ctl/ { apikey off; proxy_pass http://127.0.0.1:$TEST_NGINX_CTL_PORT/; }
_EOC_

# TEST_NGINX_USE_HUP=1: Test::Nginx reloads the nginx left running by the
# previous block with SIGHUP instead of starting a new one, and a zone of
# the same name and size keeps its keys, its state and its counters, as in
# production.  A block that needs a zone nobody has used says so with
# "--- fresh_zone": the nginx is stopped here, before the block runs, and
# the runner starts it from scratch as it does for a file's first block
# (both runners do so when the pid file names no running nginx).
sub fresh_zone {
    my ($block) = @_;
    return unless defined $block->fresh_zone && defined $block->config
        && $Test::Nginx::Util::UseHup;
    my $pidfile = $Test::Nginx::Util::PidFile;
    open my $in, '<', $pidfile or return;
    my ($pid) = (<$in> // '') =~ /(\d+)/;
    close $in;
    return unless $pid;
    my $alive = sub {
        return 0 unless kill 0, $pid;
        # nginx daemonizes: a zombie that nobody reaps is gone
        open my $st, '<', "/proc/$pid/stat" or return 1;
        return (<$st> // '') !~ /\)\s+Z\s/;
    };
    kill 'QUIT', $pid;
    my $deadline = time + 10;
    select(undef, undef, undef, 0.02) while $alive->() && time < $deadline;
    kill 'KILL', $pid if $alive->();
    unlink $pidfile;
}

sub apikey_setup {
    my $module = $ENV{TEST_NGINX_APIKEY_MODULE}
        or die "TEST_NGINX_APIKEY_MODULE is not set (run scripts/test.sh)";

    # a file before this one may have left Redis stopped
    eval { redis('PING') } or ctl('redis-start');

    Test::Nginx::Socket::add_block_preprocessor(sub {
        my $block = shift;

        fresh_zone($block);

        $block->set_value('main_config', "load_module $module;\n"
                          . ($block->main_config // ''));

        if (!defined $block->http_config) {
            $block->set_value('http_config', $HTTP_CONFIG);
        }

        if (defined $block->config && !defined $block->must_die) {
            $block->set_value('config', $block->config . $EXTRA_LOCATIONS);
        }

        if (!defined $block->init) {
            $block->set_value('init', 'ApikeyTest::seed()');
        }

        # a crashed worker fails any block, whatever else it checks
        if (!defined $block->no_error_log && !defined $block->must_die) {
            $block->set_value('no_error_log', "exited on signal 11\n"
                              . "exited on signal 6\n");
        }
    });
}

1;
