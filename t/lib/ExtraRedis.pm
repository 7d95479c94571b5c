package ExtraRedis;

# Redis servers a test file starts beside the suite's own: a replica of
# it, one listening on a unix socket only.  Ports are the suite's Redis
# port plus an offset (t/011 uses +2 and +3, t/ctl/transport.py +4 to +19,
# the replica of t/022 +20, t/package/install.t +21, the build matrix
# +22, t/tools/apikeyctl.t +99), so suites run side by side on other
# ports do not meet; sockets and logs go to TEST_REDIS_DIR.  What a file
# started is stopped when it ends (scripts/test.sh also stops every
# redis-*.pid of that directory).

use strict;
use warnings;

use Exporter 'import';
our @EXPORT_OK = qw(extra_port extra_socket start_redis redis_cli);

my $DIR = $ENV{TEST_REDIS_DIR} || '/tmp';
my @STARTED;

sub extra_port {
    my ($offset) = @_;
    return ($ENV{TEST_NGINX_REDIS_PORT} || 16380) + $offset;
}

sub extra_socket {
    my ($name) = @_;
    return "$DIR/redis-$name.sock";
}

# redis-cli against a port or a socket path; the reply, trimmed
sub redis_cli {
    my ($where, @cmd) = @_;
    my @to = $where =~ m{^/} ? ('-s', $where) : ('-p', $where);
    open my $out, '-|', 'redis-cli', @to, @cmd or die "redis-cli: $!";
    local $/;
    my $r = <$out> // '';
    close $out;
    $r =~ s/\s+\z//;
    return $r;
}

# start_redis(NAME, WHERE, ARGS...): WHERE is a port, or a socket path
# (then the server listens on no port); waits until it answers
sub start_redis {
    my ($name, $where, @args) = @_;
    my $pid = "$DIR/redis-$name.pid";
    my @listen = $where =~ m{^/}
        ? ('--port', '0', '--unixsocket', $where)
        : ('--port', $where, '--bind', '127.0.0.1');

    stop_redis($pid) if -f $pid;
    unlink $where if $where =~ m{^/};

    system('redis-server', @listen, '--save', '', '--appendonly', 'no',
           '--dir', $DIR, '--dbfilename', "dump-$name.rdb",
           '--daemonize', 'yes', '--pidfile', $pid,
           '--logfile', "$DIR/redis-$name.log", @args) == 0
        or die "redis-server $name did not start";
    push @STARTED, $pid;

    for (1 .. 500) {
        return 1 if redis_cli($where, 'PING') eq 'PONG';
        select(undef, undef, undef, 0.01);
    }
    die "redis-server $name does not answer";
}

sub stop_redis {
    my ($file) = @_;
    open my $in, '<', $file or return;
    my $pid = <$in>;
    close $in;
    return unless $pid && $pid =~ /^(\d+)/;
    $pid = $1;
    kill 'TERM', $pid;
    for (1 .. 300) {
        last unless kill 0, $pid;
        select(undef, undef, undef, 0.01);
    }
    unlink $file;
}

END {
    stop_redis($_) for @STARTED;
}

1;
