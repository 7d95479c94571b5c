package Test::Nginx::Socket;

# A small local stand-in for Test::Nginx::Socket, the data-driven nginx test
# scaffold from CPAN used by OpenResty (github.com/openresty/test-nginx).
#
# Why: our t/*.t files are written for the real module so that they run
# unchanged under it, but CPAN is unreachable on the build machines and
# Debian does not package Test::Nginx.  This is our own, much smaller
# rewrite on top of Debian's Test::Base (libtest-base-perl) and core Perl;
# none of OpenResty's code is included.  It is picked up through
# `prove -I t/lib`.  Where the real module is installed, i.e.
# `perl -MTest::Nginx::Socket -e1` succeeds without t/lib on @INC, the real
# one is to be used instead: then keep t/lib/Test/ off @INC, since anything
# on -I or `use lib` comes before the installed module and would shadow it.
#
# Same semantics as the real module for the subset it implements: the
# environment variables (TEST_NGINX_BINARY, _SERVROOT, _PORT, _SERVER_PORT,
# _LOG_LEVEL, _SLEEP, _TIMEOUT, _NO_CLEAN, _NO_SHUFFLE, _LOAD_MODULES, ...),
# the generated nginx.conf, restarting nginx for every block that has a
# --- config (or, with TEST_NGINX_USE_HUP=1, reloading it), the block
# sections, the test names and the number of tests per
# block (so `plan tests => repeat_each() * blocks() * N` agrees).  A block
# using a section this runner does not implement aborts the run (BAIL_OUT)
# instead of passing silently.  Part 1 (settings, nginx.conf, process
# management, the block loop) is Test/Nginx/Util.pm; this file sends the
# requests and checks the responses and the logs.

use strict;
use warnings;
use Test::Base -base;            # we are a Test::Base subclass, like the real one
use Test::Nginx::Util;
use IO::Select ();
use IO::Socket::INET ();
use JSON::PP ();
use Time::HiRes qw(sleep);

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests run_test repeat_each config_preamble
    worker_connections master_process_enabled no_long_string workers
    master_on master_off log_level no_shuffle no_root_location use_hup
    server_name server_addr server_root html_dir server_port
    server_port_for_client timeout no_nginx_manager check_accum_error_log
    add_block_preprocessor bail_out add_test_cleanup_handler
    add_cleanup_handler add_response_body_check
);

our @ResponseBodyChecks;
sub add_response_body_check ($) { push @ResponseBodyChecks, shift }

sub no_ending () { Test::More->builder->no_ending(1) }

sub fmt_str ($) {
    my $s = shift;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

# ---- building requests

# "--- more_headers" lines ("Name: value", # comments) -> header block
sub parse_more_headers ($) {
    my ($out, $chunked) = ('', 0);
    for my $h (split /\n+/, shift) {
        next if $h =~ /^\s*#/;
        my ($k, $v) = split /:\s*/, $h, 2;
        $v //= '';
        $chunked = 1 if lc $k eq 'transfer-encoding' && $v eq 'chunked';
        $out .= "$k: $v\r\n";
    }
    return ($out, $chunked);
}

# "METHOD [/uri [HTTP/x.y]]\n[body]" -> the bytes to send.  Host and
# Connection: close are added unless given; a body gets trimmed and a
# Content-Length unless the request is chunked or sets its own length.
sub build_request ($$$) {
    my ($name, $text, $more) = @_;
    my ($hdr, $chunked) = parse_more_headers($more);
    my ($line, $body) = $text =~ /\A([^\n]*)\n?(.*)\z/s;
    my @w = split ' ', $line;
    bail_out("$name - Request line should be non-empty") unless @w;
    bail_out("$name - Request line is not valid: \"$line\"") if @w > 3;
    my ($meth, $uri, $ver) = @w;
    my $len = '';
    if (!$chunked && $body ne '' && $hdr !~ /(?:^|\n)Content-Length:/) {
        $body =~ s/^\s+|\s+$//gs;
        $len = 'Content-Length: ' . length($body) . "\r\n";
    }
    my $req = $meth . ' ' . ($uri // '/') . ' ' . ($ver // 'HTTP/1.1') . "\r\n";
    $req .= "Host: $ServerName\r\n" if $hdr !~ /(?:^|\n)Host:/i;
    $req .= "Connection: close\r\n" if $hdr !~ /(?:^|\n)Connection/i;
    return "$req$hdr$len\r\n$body";
}

# -> [ [packet, ...] per request ]
sub get_requests ($) {
    my $block = shift;
    my $name = $block->name;
    if (defined(my $raw = $block->raw_request)) {
        # an array is ONE request split into packets, not several requests
        return [ ref $raw eq 'ARRAY' ? [@$raw] : [$raw] ];
    }
    my $request = $block->request;
    bail_out("$name - no --- request or --- raw_request") unless defined $request;
    if (!ref $request) {
        1 while $request =~ s/^\s*\#[^\n]+\s+|^\s+//gs;
    } elsif (ref $request ne 'ARRAY') {
        bail_out("$name - invalid --- request: MUST be string or array of requests");
    }
    my $more = $block->more_headers || '';
    my @reqs = ref $request ? @$request : ($request);
    my @out;
    for my $i (0 .. $#reqs) {
        my $hdr = $more;
        if (ref $more eq 'ARRAY') {
            $hdr = $more->[$i];
            bail_out("$name - --- more_headers lacks data for the ${i}th request")
                unless defined $hdr;
        }
        my $one = $reqs[$i];
        # a request given as packets is sent in one piece here
        $one = join '', map { ref $_ eq 'HASH' ? $_->{value} : $_ } @$one
            if ref $one eq 'ARRAY';
        push @out, [ build_request($name, $one, $hdr) ];
    }
    return \@out;
}

# ---- the HTTP client: one connection per request, read until the server
# closes it; $timeout bounds each wait for the socket, not the whole exchange.

sub send_request ($$$) {
    my ($block, $packets, $timeout) = @_;
    my $name = $block->name;
    my $head_req = (join '', @$packets) =~ /^\s*HEAD\s+/ ? 1 : 0;
    my $sleep = sleep_time();
    my $sock;
    for my $try (1 .. 50) {
        $sock = IO::Socket::INET->new(PeerAddr => $ServerAddr, PeerPort => $ServerPortForClient,
                                      Proto => 'tcp', Timeout => $timeout) and last;
        my $wait = ($sleep + $sleep * $try) * $try / 2;
        $wait = 1 if $wait > 1;
        warn "$name - Can't connect to $ServerAddr:$ServerPortForClient: $!, retrying\n"
            if $wait >= 0.6;
        sleep $wait;
    }
    if (!$sock) {
        no_ending();
        Test::More::fail("$name - Can't connect to $ServerAddr:$ServerPortForClient: $! (aborted)\n");
        return (undef, $head_req);
    }
    local $SIG{PIPE} = 'IGNORE';
    my $sel = IO::Select->new($sock);
    my $timed_out = sub {
        return if defined $block->abort;
        no_ending();
        Test::More::fail("ERROR: client socket timed out - $name\n");
    };
    my $delay = parse_time($block->raw_request_middle_delay);
    my ($resp, $ok) = ('', 1);
    PACKET: for my $i (0 .. $#$packets) {
        sleep $delay if $i && $delay;
        my $buf = $packets->[$i];
        while (length $buf) {
            if (!$sel->can_write($timeout)) { $timed_out->(); $ok = 0; last PACKET }
            my $n = syswrite $sock, $buf;
            if (!defined $n) {
                next if $!{EINTR} || $!{EAGAIN};
                warn "WARNING: $name - failed to send the request: $!\n";
                last PACKET;
            }
            substr($buf, 0, $n, '');
        }
    }
    if ($ok && defined(my $how = $block->shutdown)) {
        shutdown $sock, ($how =~ /^\s*$/ ? 1 : $how);
    }
    while ($ok) {
        if (!$sel->can_read($timeout)) { $timed_out->(); last }
        my $n = sysread $sock, my $chunk, 16384;
        if (!defined $n) {
            next if $!{EINTR} || $!{EAGAIN};
            warn "WARNING: $name - HTTP response read failure: $!\n";
            last;
        }
        last if $n == 0;
        $resp .= $chunk;
    }
    close $sock;
    return ($resp, $head_req);
}

# -> { code, raw_headers, headers => [[name, value], ...], content }
sub parse_response ($$$) {
    my ($name, $raw, $head_req) = @_;
    my %res = (raw_headers => '', headers => [], content => '');
    $res{raw_headers} = $1 if $raw =~ /(.*?\r\n)\r\n/s;
    my $rest = $raw;
    my $status = $rest =~ s/\A([^\n]*)\n// ? $1 : do { my $l = $rest; $rest = ''; $l };
    $res{code} = $status =~ m{^HTTP/\S+\s+(\d+)(?:\s|$)} ? $1 : undef;
    while ($rest =~ s/\A([^\n]*)\n//) {
        (my $l = $1) =~ s/\r\z//;
        last if $l eq '';
        if ($l =~ /^[ \t]+(.*)/ && @{ $res{headers} }) {
            $res{headers}[-1][1] .= " $1";
        } elsif ($l =~ /^([^\s:]+)[ \t]*:[ \t]*(.*)/) {
            push @{ $res{headers} }, [$1, $2];
        }
    }
    $res{content} = $rest;
    my $code = $res{code} // 0;
    return \%res if $code == 304 || $code == 101;

    my $te = header(\%res, 'Transfer-Encoding');
    my $len = header(\%res, 'Content-Length');
    my $left;
    if (defined $te && $te eq 'chunked') {
        my $decoded = '';
        pos($rest) = 0;
        while (1) {
            if ($rest =~ /\G0+[ \t]*\r\n(?:[^\r\n]+\r\n)*\r\n/gc) {
                $left = substr $rest, pos $rest;
                last;
            }
            if ($rest =~ /\G[ \t]*([0-9A-Fa-f]+)[ \t]*\r\n/gc) {
                my ($n, $p) = (hex $1, pos $rest);
                if (length($rest) < $p + $n + 2 || substr($rest, $p + $n, 2) ne "\r\n") {
                    no_ending();
                    Test::More::fail("$name - invalid chunked data received");
                    last;
                }
                $decoded .= substr $rest, $p, $n;
                pos($rest) = $p + $n + 2;
                next;
            }
            no_ending();
            Test::More::fail("$name - no last chunk found - " . substr($rest, pos($rest) // 0));
            last;
        }
        $res{content} = $decoded;
    } elsif (defined $len && $len =~ /^\d+$/) {
        if (length $rest > $len) {
            $left = substr $rest, $len;
            $res{content} = substr $rest, 0, $len;
        } elsif (length $rest < $len && !$head_req) {
            warn "WARNING: $name - response body truncated: $len expected, but got ",
                 length $rest, "\n";
        }
    }
    if (defined $left && length $left) {
        $left =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
        warn "WARNING: $name - unexpected extra bytes after last chunk in response: \"$left\"\n";
    }
    return \%res;
}

# Header value, case-insensitive; repeated headers are joined with ", ".
sub header ($$) {
    my ($res, $key) = @_;
    my @v = map { $_->[1] } grep { lc $_->[0] eq lc $key } @{ $res->{headers} };
    return @v ? join(', ', @v) : undef;
}

# ---- checks

# With several requests in a block every response check must be an array.
sub indexed ($$$$) {
    my ($name, $v, $idx, $need_array) = @_;
    if ($need_array) {
        return $v->[$idx] if ref $v eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results should be arrays as well.");
    }
    return ref $v eq 'ARRAY' ? $v->[0] : $v;
}

sub check_error_code ($$$$) {
    my ($block, $res, $idx, $need_array) = @_;
    my $name = $block->name;
    my $code = $res->{code} // '';
    if (defined $block->error_code_like) {
        my $pat = indexed($name, $block->error_code_like, $idx, $need_array);
        Test::More::like($code, qr/$pat/sm, "$name - status code ok");
    } elsif (defined $block->error_code) {
        Test::More::is($code, indexed($name, $block->error_code, $idx, $need_array),
                       "$name - status code ok");
    } else {
        Test::More::is($code, 200, "$name - status code ok");
    }
}

sub check_raw_response_headers ($$$$) {
    my ($block, $res, $idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->raw_response_headers_like) {
        my $pat = indexed($name, $block->raw_response_headers_like, $idx, $need_array);
        Test::More::like($res->{raw_headers}, qr/$pat/s, "$name - raw resp headers like");
    }
    if (defined $block->raw_response_headers_unlike) {
        my $pat = indexed($name, $block->raw_response_headers_unlike, $idx, $need_array);
        Test::More::unlike($res->{raw_headers}, qr/$pat/s, "$name - raw resp headers unlike");
    }
}

# "Name: value" per line; "!Name" (or a bare "Name") means "must be absent".
# One check per distinct name; a repeated name keeps its last value.
sub parse_header_spec ($) {
    my (@order, %h);
    for my $l (split /\n/, shift // '') {
        $l =~ s/^\s+|\s+$//g;
        my ($k, $v) = $l =~ s/^!\s*// ? ($l, undef) : split(/\s*:\s*/, $l, 2);
        $k //= '';
        push @order, $k unless exists $h{$k};
        $h{$k} = $v;
    }
    return map { [$_, $h{$_}] } @order;
}

sub check_response_headers ($$$$) {
    my ($block, $res, $idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->response_headers) {
        for (parse_header_spec(indexed($name, $block->response_headers, $idx, $need_array))) {
            my ($key, $val) = @$_;
            if (!defined $val) {
                Test::More::unlike($res->{raw_headers}, qr/^\s*\Q$key\E\s*:/ms,
                                   "$name - header $key not present in the raw headers");
                next;
            }
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            Test::More::is(header($res, $key) // '', $val, "$name - header $key ok");
        }
    } elsif (defined $block->response_headers_like) {
        for (parse_header_spec(indexed($name, $block->response_headers_like, $idx, $need_array))) {
            my ($key, $val) = @$_;
            $val //= '';
            Test::More::like(header($res, $key) // '', qr/^$val$/,
                             "$name - header $key like ok");
        }
    }
}

sub check_response_body ($$$$$) {
    my ($block, $res, $idx, $rep, $need_array) = @_;
    my $name = $block->name;
    my $content = $res->{content};
    if (defined $block->response_body) {
        if (defined $block->response_body_json_sort) {
            my $js = JSON::PP->new->canonical(1);
            my $obj = eval { $js->loose(1)->decode($content) };
            $content = $js->encode($obj) . "\n" if defined $obj;
        }
        my $expected = indexed($name, $block->response_body, $idx, $need_array);
        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            $expected = expand_env_in_text($expected, $name);
        }
        if (ref $expected) {
            Test::More::like($content, $expected,
                "$name - response_body - like (repeated req $rep, req $idx)");
        } else {
            Test::More::is($content, $expected,
                "$name - response_body - response is expected (repeated req $rep, req $idx)");
        }
    } elsif (defined $block->response_body_like || defined $block->response_body_unlike) {
        my $type = defined $block->response_body_like ? 'like' : 'unlike';
        my $section = "response_body_$type";
        my $pat = indexed($name, $block->$section, $idx, $need_array);
        $pat =~ s/\$ServerPort\b/$ServerPort/g;
        $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        (my $summary = $content) =~ s/^\s+|\s+$//g;
        $summary =~ s/\s+/ /g;
        my $cmp = $type eq 'like' ? \&Test::More::like : \&Test::More::unlike;
        $cmp->($content, qr/$pat/s, "$name - response_body_$type - response is expected ($summary)");
    }
    $_->($block, $content, $idx, $rep, 0) for @ResponseBodyChecks;
}

sub pattern_list ($) {
    my $p = shift;
    return [@$p] if ref $p eq 'ARRAY';
    return [$p] if ref $p;
    chomp $p;
    return [split /\n+/, $p];
}

sub line_matches ($$) {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ $pat : index($line, $pat) >= 0;
}

# --- error_log / --- access_log: one test per pattern, passing when some line
# matches it (a string is a substring, a qr// a regex).
sub check_must_match ($$$$$) {
    my ($name, $pats, $lines, $file, $rep) = @_;
    $pats = pattern_list($pats);
    for my $line (@$lines) {
        for my $pat (@$pats) {
            next unless defined $pat && line_matches($line, $pat);
            Test::More::pass("$name - pattern \"$pat\" matches a line in $file (req $rep)");
            undef $pat;
        }
    }
    Test::More::fail("$name - pattern \"$_\" should match a line in $file (req $rep)")
        for grep { defined } @$pats;
}

# --- no_error_log / --- no_access_log: one passing test per pattern that no
# line matches; one failing test per line that matches.
sub check_must_not_match ($$$$$) {
    my ($name, $pats, $lines, $file, $rep) = @_;
    my %found;
    my @pats = grep { defined } @{ pattern_list($pats) };
    for my $i (0 .. $#$lines) {
        for my $pat (@pats) {
            next unless line_matches($lines->[$i], $pat);
            no_ending() if $found{$pat}++;
            my $last = $i + 9 < $#$lines ? $i + 9 : $#$lines;
            Test::More::fail("$name - pattern \"" . fmt_str($pat) . "\" should not match any line in "
                . "$file but matches line \"" . fmt_str($lines->[$i]) . "\" (req $rep)\n"
                . join '', @$lines[$i + 1 .. $last]);
        }
    }
    for my $pat (grep { !$found{$_} } @pats) {
        Test::More::pass("$name - pattern \"" . fmt_str($pat) . "\" does not match a line in $file (req $rep)");
    }
}

# Checks the error.log lines written since the previous check in this block.
sub check_error_log ($$$$) {
    my ($block, $res, $rep, $need_array) = @_;
    my $name = $block->name;
    my $lines = error_log_data();
    check_must_match($name, $block->error_log, $lines, 'error.log', $rep)
        if defined $block->error_log;
    check_must_not_match($name, $block->no_error_log, $lines, 'error.log', $rep)
        if defined $block->no_error_log;

    # [alert]/[crit]/[emerg] lines are shown unless the block looks for them
    my $mentioned = join "\n", map { ref $_ eq 'ARRAY' ? map({ $_ // '' } @$_) : $_ }
                               grep { defined } $block->error_log, $block->no_error_log;
    for my $level (qw(alert crit emerg)) {
        next if index($mentioned, "[$level") >= 0;
        warn "WARNING: $name - ", fmt_str($_), "\n" for grep { /\[$level\]/ } @$lines;
    }
    for my $line (grep { /\bAssertion .*?failed\b/ } @$lines) {
        no_ending();
        chomp(my $l = $line);
        Test::More::fail("$name - $l\n");
    }
}

sub check_access_log ($$) {
    my ($block, $rep) = @_;
    my $name = $block->name;
    return unless defined $block->access_log || defined $block->no_access_log;
    my $lines = access_log_data();
    check_must_match($name, $block->access_log, $lines, 'access.log', $rep)
        if defined $block->access_log;
    check_must_not_match($name, $block->no_access_log, $lines, 'access.log', $rep)
        if defined $block->no_access_log;
}

# One repeat_each round of a block: send each request in turn and check its
# response; the logs are checked after every request (each check sees only
# the error.log lines written since the previous one).
sub run_test_helper ($$) {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my $reqs = get_requests($block);
    my $timeout = parse_time($block->timeout) // timeout();
    my $need_array = @$reqs > 1;
    my $res;
    for my $idx (0 .. $#$reqs) {
        my ($raw, $head_req) = send_request($block, $reqs->[$idx], $timeout);
        if (!defined $block->ignore_response) {
            $res = parse_response($name, $raw // '', $head_req);
            check_error_code($block, $res, $idx, $need_array);
            check_raw_response_headers($block, $res, $idx, $need_array);
            check_response_headers($block, $res, $idx, $need_array);
            check_response_body($block, $res, $idx, $rep, $need_array);
        }
        if ($idx < $#$reqs) {
            sleep $block->wait if $block->wait;
            check_error_log($block, $res, $rep, $need_array);
            check_access_log($block, $rep) unless defined $block->ignore_response;
        }
    }
    sleep $block->wait if $block->wait;
    check_error_log($block, $res, $rep, $need_array);
    check_access_log($block, $rep) unless defined $block->ignore_response;
}

1;
