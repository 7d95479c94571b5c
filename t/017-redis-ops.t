# Redis as operators run it: the password in a file of its own, never in
# `nginx -T` or a log line.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
master_on();
workers(2);
no_shuffle();

our $API = $ApikeyTest::API;
our $PW = 'Ops-Pa55w0rd-9f3c1e7a';
our $FULL = "X-Secret-Key: $ApikeyTest::KEY{full}";
our $CRASH = "exited on signal 11\nexited on signal 6\n";

# a user of its own (a restart of Redis drops it)
ApikeyTest::redis('ACL', 'SETUSER', 'apikey-ops-pw', 'reset', 'on', ">$PW",
                  '~*', '&*', '+@all');

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
