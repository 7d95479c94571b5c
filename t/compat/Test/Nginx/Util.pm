package Test::Nginx::Util;

# Local stand-in for the CPAN Test::Nginx, part 1 of 2: settings, the
# generated nginx.conf, starting and stopping nginx, and the per-block loop.
# Part 2 (Test/Nginx/Socket.pm) sends the requests and checks the answers;
# read its header first.  This is our own small rewrite, not OpenResty's code.

use strict;
use warnings;
use Exporter 'import';
use Carp qw(croak);
use File::Find ();
use File::Path qw(make_path remove_tree);
use File::Spec ();
use IO::Socket::INET ();
use List::Util qw(shuffle);
use POSIX qw(WNOHANG SIGQUIT SIGKILL SIGHUP SIGUSR1);
use Time::HiRes qw(sleep time);
use Test::More ();

our @EXPORT = qw(
    env_to_nginx is_str run_tests run_test repeat_each config_preamble
    worker_connections master_process_enabled no_long_string workers
    master_on master_off log_level no_shuffle no_root_location use_hup
    server_name server_addr server_root html_dir server_port
    server_port_for_client timeout no_nginx_manager check_accum_error_log
    add_block_preprocessor bail_out add_test_cleanup_handler
    add_cleanup_handler sleep_time parse_time expand_env_in_text
    error_log_data access_log_data is_running get_pid_from_pidfile
    $ServerPort $ServerPortForClient $ServerAddr $ServerName $ServRoot
    $PidFile $ConfFile $ErrLogFile $HtmlDir $NginxBinary $NginxVersion
    $RepeatEach $NoLongString
);

# ---- settings (same environment variables and defaults as the CPAN module)

our $NginxBinary  = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $ServerAddr   = '127.0.0.1';
our $ServerName   = 'localhost';
our $ServerPort   = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $Timeout      = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $Sleep        = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $LogLevel     = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcess = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $NoShuffle    = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $CheckAccumErrLog = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $LoadModules  = $ENV{TEST_NGINX_LOAD_MODULES};
our $WorkerUser   = $ENV{TEST_NGINX_WORKER_USER};
our $UseHup       = $ENV{TEST_NGINX_USE_HUP};
our $Workers      = 1;
our $WorkerConnections = 64;
our $RepeatEach   = 1;
our $NoRootLocation = 0;
our $NoLongString;
our $ConfigPreamble = '';
our (@EnvToNginx, @BlockPreprocessors, @CleanupHandlers, @TestCleanupHandlers);

our $ServRoot = File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT} || 't/servroot');
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;
our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";

our ($NginxVersion, $NginxV);   # "1.022001"-style number; `nginx -V` output
our ($PrevConfig, $ErrLogFilePos, $RandPorts, $Started) = (undef, 0, {}, 0);
our ($FirstTime, $ConfigVersion) = (1, '');

# ---- small setters/getters (called before run_tests)

sub server_port (@)     { @_ ? ($ServerPort = shift) : $ServerPort }
sub server_port_for_client (@) { @_ ? ($ServerPortForClient = shift) : $ServerPortForClient }
sub server_addr (@)     { @_ ? ($ServerAddr = shift) : $ServerAddr }
sub server_name (@)     { @_ ? ($ServerName = shift) : $ServerName }
sub repeat_each (@)     { $RepeatEach = shift if @_; $RepeatEach }
sub workers (@)         { @_ ? ($Workers = shift) : $Workers }
sub worker_connections (@) { @_ ? ($WorkerConnections = shift) : $WorkerConnections }
sub log_level (@)       { @_ ? ($LogLevel = shift) : $LogLevel }
sub timeout (@)         { @_ ? ($Timeout = shift) : $Timeout }
sub master_on ()        { $MasterProcess = 'on' }
sub master_off ()       { $MasterProcess = 'off' }
sub master_process_enabled (@) {
    @_ ? ($MasterProcess = shift() ? 'on' : 'off') : $MasterProcess;
}
sub no_shuffle ()       { $NoShuffle = 1 }
sub no_root_location () { $NoRootLocation = 1 }
sub no_long_string ()   { $NoLongString = 1 }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub config_preamble ($) { $ConfigPreamble = shift }
sub use_hup ()          { $UseHup = 1 }
sub no_nginx_manager () { croak "no_nginx_manager() is not supported by t/lib/Test/Nginx" }
sub html_dir ()         { $HtmlDir }
sub server_root ()      { $ServRoot }
sub sleep_time ()       { $Sleep }
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($)    { unshift @CleanupHandlers, shift }
sub add_test_cleanup_handler ($) { unshift @TestCleanupHandlers, shift }

sub env_to_nginx (@) {
    croak "env_to_nginx: no arguments specified" unless @_;
    for my $v (@_) {
        croak "env_to_nginx: bad argument value: $v\n" if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    return Test::More::like($got, $expected, $desc) if ref $expected eq 'Regexp';
    return Test::More::is($got, $expected, $desc);
}

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# "100ms" -> 0.1, "2s" -> 2, "1.5" -> 1.5
sub parse_time ($) {
    my $t = shift;
    return undef unless defined $t;
    return $1 / 1000 if $t =~ /^\s*([\d.]+)\s*ms\s*$/;
    return $1 if $t =~ /^\s*([\d.]+)\s*s?\s*$/;
    return $t;
}

# Every $TEST_NGINX_FOO becomes $ENV{TEST_NGINX_FOO}; an unset one aborts.
# $TEST_NGINX_RAND_PORT_N becomes a free port, the same one within a block.
sub expand_env_in_text ($$;$) {
    my ($text, $name) = @_;
    return $text unless defined $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            $RandPorts->{$var} //= free_port()
                // bail_out("$name - cannot find a free port for $var\n");
        } else {
            defined $ENV{$var} ? $ENV{$var} : bail_out("$name - No environment $var defined.\n");
        }
    }ge;
    return $text;
}

sub free_port () {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1) or return undef;
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub shq ($) { my $s = shift; $s =~ s/'/'\\''/g; "'$s'" }

sub nginx_info () {
    return if defined $NginxV;
    my $bin = $NginxBinary =~ m{/} ? $NginxBinary
            : (grep { -f && -x } map { "$_/$NginxBinary" } split /:/, $ENV{PATH} // '')[0];
    bail_out("Cannot find the nginx executable '$NginxBinary' (set TEST_NGINX_BINARY)")
        unless $bin && -x $bin;
    $NginxV = `@{[shq $bin]} -V 2>&1`;
    $NginxVersion = sprintf '%d.%03d%03d', $1, $2, $3
        if $NginxV =~ m{nginx version: \S+?/(\d+)\.(\d+)\.(\d+)};
    $NginxVersion //= 0;
}

# ---- nginx process management

sub get_pid_from_pidfile (;$) {
    open my $in, '<', $PidFile or return undef;
    my $pid = do { local $/; <$in> } // '';
    return $pid =~ /(\d+)/ ? $1 : undef;
}

# True while $pid exists and is not a zombie (nginx daemonizes, so it is
# re-parented to PID 1, which may never reap it in a container).
sub is_running ($) {
    my $pid = shift;
    return 0 unless $pid;
    waitpid($pid, WNOHANG);
    return 0 unless kill 0, $pid;
    if (open my $st, '<', "/proc/$pid/stat") {
        my $line = <$st> // '';
        return 0 if $line =~ /\)\s+Z\s/;
    }
    return 1;
}

sub stop_nginx ($) {
    my $name = shift;
    my $pid = get_pid_from_pidfile();
    if ($pid && is_running($pid)) {
        kill SIGQUIT, $pid;                 # graceful, like the CPAN module
        my $deadline = time + $Timeout;
        sleep 0.01 while is_running($pid) && time < $deadline;
        if (is_running($pid)) {
            warn "$name - nginx $pid did not quit in ${Timeout}s; killing it\n";
            my $grp = getpgrp($pid);
            kill SIGKILL, (defined $grp && $grp == $pid ? -$pid : $pid);
            sleep 0.01 while is_running($pid) && time < $deadline + 3;
        }
    }
    unlink $PidFile if -f $PidFile;
}

# Wipe and recreate servroot.  Only our own sub-directories are removed, and
# an unexpected file left in servroot aborts (as the CPAN module does).
# Under HUP, as there: every file under servroot goes, but for the running
# nginx's pid file, sockets, certificates and keys (unless $first_time),
# and the directories stay, since nginx keeps using them.
sub setup_server_root (;$) {
    my $first_time = shift;
    if ($UseHup && -d $ServRoot) {
        remove_tree($ConfDir, glob("$ServRoot/*_cache"), glob("$ServRoot/*_temp"));
        File::Find::find({ bydepth => 1, no_chdir => 1, wanted => sub {
            return if -d $_;
            return if !$first_time && /(?:\bnginx\.pid|\.sock|\.crt|\.key)$/;
            unlink $_ or warn "Failed to remove $_: $!\n";
        } }, $ServRoot);
    } elsif (-d $ServRoot) {
        remove_tree($ConfDir, $LogDir, $HtmlDir, "$ServRoot/cache",
                    glob("$ServRoot/*_temp"), glob("$ServRoot/*_cache"));
        rmdir $ServRoot or bail_out("Can't remove $ServRoot (not empty?): $!");
    }
    make_path($ServRoot, $LogDir, $HtmlDir, $ConfDir);
    open my $out, '>', "$HtmlDir/index.html" or bail_out("Can't write index.html: $!");
    print $out '<html><head><title>It works!</title></head><body>It works!</body></html>';
    close $out;
}

# --- user_files: ">>> path [touch-date]" lines followed by the contents,
# or (with eval) [[path, contents, date], ...].  Relative paths go under html/.
sub write_user_files ($) {
    my $block = shift;
    my $name = $block->name;
    my $files = $block->user_files;
    return unless $files;
    if (!ref $files) {
        my @list;
        for my $line (split /^/m, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+))?/) {
                push @list, [$1, undef, $2];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
        $files = \@list;
    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - --- user_files must be a string or an ARRAY");
    }
    for my $f (@$files) {
        my ($fname, $body, $date) = @$f;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        make_path($1) if $path =~ m{(.*)/} && !-d $1;
        $body = expand_env_in_text($body // '', $name);
        open my $out, '>', $path or bail_out("$name - Cannot open $path for writing: $!");
        binmode $out;
        print $out $body;
        close $out;
        if ($date) {
            system("TZ=GMT touch -t @{[shq $date]} @{[shq $path]}") == 0
                or bail_out("$name - touch -t $date $path failed");
        }
    }
}

sub write_config ($$) {
    my ($block, $config) = @_;
    my $name = $block->name;
    my $main = expand_env_in_text($block->main_config // '', $name);
    my $http = expand_env_in_text($block->http_config // '', $name);
    my $post = expand_env_in_text($block->post_main_config // '', $name);
    my $errlog = expand_env_in_text($block->error_log_file || $ErrLogFile, $name);
    my $server_name = $block->server_name // $ServerName;
    $server_name =~ s/(['\\])/\\$1/g;
    # as the CPAN module: "config reload is buggy when master is off", so
    # HUP mode turns the master on for the rest of the file
    master_on() if $UseHup;
    # and a second server answers the config's version, which tells when
    # the workers of the new configuration are the ones answering
    my $ver = !$UseHup ? '' : <<"_EOC_";
    server {
        listen          $ServerPort;
        server_name     'Test-Nginx';

        location = /ver {
            return 200 '$ConfigVersion';
        }
    }
_EOC_
    if ($LoadModules) {
        $main = join(' ', map { "load_module $_;" } grep { length } split /\s+/, $LoadModules)
              . " $main";
    }

    my $temp = '';
    for my $t (qw(client_body proxy fastcgi scgi uwsgi)) {
        next if $NginxV =~ /--without-http_${t}_module/ || $http =~ /\b${t}_temp_path\b/;
        $temp .= " ${t}_temp_path $ServRoot/${t}_temp;";
    }
    my $env = join '', map { my $v = /\s/ ? "'$_'" : $_; "env $v;\n" } @EnvToNginx;
    my $root = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_
    my $user = defined $WorkerUser ? "user $WorkerUser;\n"
             : $> == 0            ? "user root;\n" : '';

    open my $out, '>', $ConfFile or bail_out("Can't open $ConfFile for writing: $!");
    print $out <<"_EOC_";
worker_processes  $Workers;
daemon on;
master_process $MasterProcess;
error_log $errlog $LogLevel;
pid       $PidFile;
$env
$main

http {
    access_log $AccLogFile;$temp
    default_type text/plain;
    keepalive_timeout  68000ms;

$http
    server {
        listen          $ServerPort;
        server_name     '$server_name';
        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root    }
$ver}

$post

events {
    accept_mutex off;
    worker_connections  $WorkerConnections;
}
$user
_EOC_
    close $out;
}

# Runs nginx once; returns the wait status.  nginx daemonizes, so system()
# returns once the listening sockets exist.  stderr goes to logs/nginx.stderr.
sub run_nginx () {
    my $cmd = shq($NginxBinary);
    $cmd .= ' -e ' . shq($ErrLogFile) if $NginxVersion >= 1.019005;
    $cmd .= ' -p ' . shq("$ServRoot/") . ' -c ' . shq($ConfFile);
    $Started = 1;
    system("$cmd >/dev/null 2>>" . shq("$LogDir/nginx.stderr"));
    return $?;
}

sub port_listening ($) {
    my $hex = sprintf ':%04X ', shift;
    my $seen_table;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $in, '<', $f or next;
        $seen_table = 1;
        while (<$in>) {
            my @c = split;
            return 1 if @c > 3 && "$c[1] " =~ /\Q$hex\E/ && $c[3] eq '0A';
        }
    }
    return !$seen_table;       # cannot tell: assume yes
}

sub wait_until_ready ($) {
    my $name = shift;
    my $deadline = time + 10;
    sleep 0.005 until get_pid_from_pidfile() || time > $deadline;
    sleep 0.005 until port_listening($ServerPort) || time > $deadline;
    warn "$name - nginx did not write $PidFile / listen on $ServerPort within 10s\n"
        if time > $deadline;
    sleep $Sleep;
}

sub log_tail () {
    my $s = '';
    for my $f ("$LogDir/nginx.stderr", $ErrLogFile) {
        open my $in, '<', $f or next;
        my @l = <$in>;
        $s .= join '', @l > 15 ? @l[-15 .. -1] : @l;
    }
    return $s;
}

# Start nginx, retrying a few seconds while the port is still held by the
# previous instance.  Anything else that stops it from starting aborts the run.
sub start_nginx ($) {
    my $name = shift;
    my $deadline = time + 10;
    while (1) {
        my $status = run_nginx();
        if ($status == 0) {
            wait_until_ready($name);
            return;
        }
        my $log = log_tail();
        if ($log =~ /Address already in use/ && time < $deadline) {
            sleep 0.2;
            next;
        }
        my ($why) = $log =~ /^(.*\[(?:emerg|alert|crit)\].*)$/m;
        Test::More::diag("nginx failed to start; the end of its logs:\n$log");
        bail_out("$name - Cannot start nginx (status $status): " . ($why // 'see above'));
    }
}

# GET /ver from the 'Test-Nginx' server of the config; '' when unreachable.
sub config_version () {
    my $s = IO::Socket::INET->new(PeerAddr => $ServerAddr, PeerPort => $ServerPort,
                                  Proto => 'tcp', Timeout => 2) or return '';
    local $SIG{PIPE} = 'IGNORE';
    print $s "GET /ver HTTP/1.0\r\nHost: Test-Nginx\r\n\r\n";
    local $/;
    my $resp = <$s> // '';
    return $resp =~ m{\AHTTP/1\.\d 200 .*?\r\n\r\n(.*)\z}s ? $1 : '';
}

# After a HUP: wait until 20 answers in a row come from the new
# configuration (the CPAN module's test_config_version), so that no request
# of the block meets a worker of the old one.
sub test_config_version ($) {
    my $name = shift;
    my ($total, $nsucc) = (200, 0);
    for my $tries (1 .. $total) {
        if (config_version() eq $ConfigVersion) {
            sleep $Sleep if ++$nsucc == 5;
            return if $nsucc >= 20;
            next;
        }
        $nsucc = 0;
        my $wait = ($Sleep + $Sleep * $tries) * $tries / 2;
        $wait = 1 if $wait > 1;
        warn "$name - waiting $wait sec for nginx to reload the configuration\n"
            if $wait > 0.5;
        sleep $wait;
    }
    Test::More->builder->no_ending(1);
    Test::More::fail("$name - failed to reload configuration after $total "
                     . "failed test requests");
}

# HUP mode: write the block's files and config for the running nginx, make
# it reopen its logs (the old error.log is gone) and reload.  False when
# there is no nginx to reload, or it cannot be signalled.
sub hup_nginx ($$$) {
    my ($block, $config, $first_time) = @_;
    my $name = $block->name;
    my $pid = get_pid_from_pidfile();
    return 0 unless $pid && is_running($pid);
    return 0 if $first_time;       # a previous file's nginx: start afresh
    setup_server_root(0);
    write_user_files($block);
    write_config($block, $config);
    if (!kill SIGUSR1, $pid) {
        warn "$name - Failed to send USR1 signal\n";
        return 0;
    }
    sleep $Sleep;
    return 0 unless kill SIGHUP, $pid;
    sleep $Sleep * 3;
    test_config_version($name);
    return 1;
}

# Lines appended to error.log since the previous call within this block.
sub error_log_data () {
    sleep $Sleep * 3;
    open my $in, '<', $ErrLogFile or return [];
    seek $in, $ErrLogFilePos, 0 if !$CheckAccumErrLog && $ErrLogFilePos > 0;
    my @lines = <$in>;
    $ErrLogFilePos = tell $in unless $CheckAccumErrLog;
    return \@lines;
}

sub access_log_data () {
    sleep $Sleep * 3;
    open my $in, '<', $AccLogFile or return [];
    return [<$in>];
}

# ---- the per-block loop

my %Unsupported = map { $_ => 1 } qw(
    pipelined_requests response_body_filters tcp_listen udp_listen stap
    stap_out stap_out_like shutdown_error_log no_shutdown_error_log curl http2
    http3 todo todo_nginx skip_nginx2 skip_openssl skip_slave request_eval
    response_body_eval grep_error_log grep_error_log_out reload_fails
);

my %Cmp = ('<' => sub { $_[0] < $_[1] }, '<=' => sub { $_[0] <= $_[1] },
           '>' => sub { $_[0] > $_[1] }, '>=' => sub { $_[0] >= $_[1] });

sub run_tests () {
    nginx_info();
    $ENV{TEST_NGINX_SERVER_PORT} //= $ServerPort;
    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;
    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_test($block);
        $_->($block) for @TestCleanupHandlers;
    }
    cleanup();
    stop_nginx('run_tests') unless $ENV{TEST_NGINX_NO_CLEAN};
}

sub run_test ($) {
    my $block = shift;
    return if defined $block->SKIP;
    nginx_info();
    my $name = $block->name;
    for my $s (sort keys %Unsupported) {
        bail_out("$name - --- $s is not supported by t/lib/Test/Nginx (use the CPAN "
                 . "Test::Nginx, or extend t/lib)") if exists $block->{$s};
    }
    my $first_time = $FirstTime;
    $FirstTime = 0;
    local $RandPorts = {};
    local $LogLevel = $block->log_level || $LogLevel;
    # a block whose nginx must die is started from scratch, as there
    local $UseHup = defined $block->must_die ? undef : $UseHup;
    my $config = expand_env_in_text($block->config, $name);

    my ($skip_n, $skip_reason, $should_skip);
    if (defined(my $spec = $block->skip_nginx)) {
        $spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*?))?\s*$/
            or bail_out("$name - Invalid --- skip_nginx spec: $spec");
        ($skip_n, $skip_reason) = ($1, $6 || "nginx version $2 $3.$4.$5");
        $should_skip = $Cmp{$2}->($NginxVersion, sprintf('%d.%03d%03d', $3, $4, $5));
    } elsif (defined(my $code = $block->skip_eval)) {
        $code =~ /^\s*(\d+)\s*:\s*(.*)/s
            or bail_out("$name - Invalid --- skip_eval spec: $code");
        ($skip_n, $skip_reason) = ($1, 'skip_eval');
        $should_skip = eval $2;
        bail_out("$name - skip_eval failed: $@") if $@;
    }

    # nginx is restarted for every block that has a --- config; a block
    # without one keeps talking to whatever the previous block started.
    # TEST_NGINX_USE_HUP=1 (or use_hup()): the nginx left running by the
    # previous block of this file is reloaded with SIGHUP instead, as the
    # CPAN module does; shared memory zones then outlive the block.
    if (!defined $config) {
        bail_out("$name - No '--- config' section specified and could not get previous one")
            unless defined $PrevConfig;
    } elsif (!$should_skip) {
        $PrevConfig = $config;
        $ConfigVersion = join '', map { ('A' .. 'Z', 'a' .. 'z', 0 .. 9)[rand 62] } 1 .. 10
            if $UseHup;
        goto REQUEST if $UseHup && hup_nginx($block, $config, $first_time);
        stop_nginx($name);
        setup_server_root($first_time);
        if (my $code = $block->post_setup_server_root) {
            eval $code;
            bail_out("$name - post_setup_server_root failed: $@") if $@;
        }
        write_user_files($block);
        write_config($block, $config);

        if (defined(my $must_die = $block->must_die)) {
            $ErrLogFilePos = 0;
            for my $i (0 .. $RepeatEach - 1) {
                my $status = run_nginx();
                my $code = $status == -1 ? undef : $status >> 8;
                if ($status == -1) {
                    Test::More::fail("$name - failed to execute the nginx command line");
                } elsif ($status & 127 || $status & 128) {
                    Test::More::fail("$name - nginx core dumped");
                } elsif ($must_die =~ /^\s*\d+\s*$/) {
                    Test::More::is($must_die, $code, "$name - die with the expected exit code");
                } else {
                    Test::More::isnt($status, 0, "$name - die as expected");
                }
                Test::Nginx::Socket::check_error_log($block, undef, $i, 0);
                if ($status == 0) {
                    warn "WARNING: $name - nginx must die but it does not; killing it (req $i)\n";
                    wait_until_ready($name);
                    stop_nginx($name);
                }
            }
            return;
        }
        start_nginx($name);
    }

  REQUEST:
    # --- init runs here: after nginx has started, once per block (not per
    # repeat_each round), before the first request.
    if (my $code = $block->init) {
        eval $code;
        bail_out("$name - init failed: $@") if $@;
    }

    $ErrLogFilePos = 0;
    for my $i (0 .. $RepeatEach - 1) {
        write_user_files($block) if $i > 0;
        if ($should_skip && defined $skip_n) {
            SKIP: { Test::More::skip("$name - $skip_reason", $skip_n) }
        } else {
            Test::Nginx::Socket::run_test_helper($block, $i);
        }
    }
}

sub cleanup () {
    $_->() for @CleanupHandlers;
}

END {
    local $?;
    cleanup();
    stop_nginx('END') if $Started && !$ENV{TEST_NGINX_NO_CLEAN};
}

1;
