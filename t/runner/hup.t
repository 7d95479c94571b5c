# Self-test of the test scaffold's HUP mode (TEST_NGINX_USE_HUP=1, or
# use_hup() as here), stock nginx only: a block reloads the nginx of the
# block before with SIGHUP, its new configuration answers; a block that
# must die, and the block after it, get an nginx of their own.  Passes
# under our t/compat runner and under the CPAN Test::Nginx alike.

use Test::Nginx::Socket 'no_plan';

use_hup();
no_shuffle();

# the master's pid of each block, read in its --- init (after the start
# or the reload)
our %MASTER;

sub master {
    open my $in, '<', $Test::Nginx::Util::PidFile or return 0;
    my ($pid) = (<$in> // '') =~ /(\d+)/;
    return $pid;
}

run_tests();

Test::More::ok($MASTER{1}, "the first block started nginx");
Test::More::is($MASTER{2}, $MASTER{1},
               "the second block reloaded it, not a new nginx");
Test::More::ok($MASTER{4} && $MASTER{4} != $MASTER{1},
               "after a block that must die, a new nginx");

__DATA__

=== TEST 1: a first block starts nginx
--- init: $::MASTER{1} = ::master();
--- config
    location = /t {
        return 200 "one\n";
    }
--- request
GET /t
--- response_body
one



=== TEST 2: the next one reloads it: its own configuration answers
--- init: $::MASTER{2} = ::master();
--- config
    location = /t {
        return 200 "two\n";
    }
--- request
GET /t
--- response_body
two



=== TEST 3: a block that must die is started from scratch
--- config
    location = /t {
        no_such_directive;
    }
--- must_die



=== TEST 4: and the block after it starts a new nginx
--- init: $::MASTER{4} = ::master();
--- config
    location = /t {
        return 200 "four\n";
    }
--- request
GET /t
--- response_body
four
