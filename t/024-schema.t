# One schema for every writer and reader: apikeyctl checks a value with
# the same rules (src/ngx_apikey_format.c) as the module, so it accepts
# exactly what nginx accepts, and what it writes is what nginx loads.
# Each bound is tried on both sides: the longest key prefix (218 bytes:
# 256 minus 32 random and 6 checksum characters), the longest Redis
# prefix (128 bytes), ids the module loads, and grants.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
no_shuffle();

# L bytes of token characters, all kinds of them, ending in "_"
sub kp {
    my ($l) = @_;
    my $s = substr('kA9-._~+/z' x 30, 0, $l - 1);
    return $s . '_';
}

# a Redis prefix of L bytes
sub rp { my ($l) = @_; return substr('rp:' . ('x' x 200), 0, $l - 1) . ':' }

sub esc { my ($s) = @_; $s =~ s/([^A-Za-z0-9\-_.~])/sprintf("%%%02X", ord $1)/ge; $s }
sub ctl { "GET /ctl/apikeyctl?" . join('&', map { "a=" . esc($_) } @_) }
sub send { my ($k, $m, $p) = @_; "GET /ctl/send?key=$k&method=$m&path=$p" }

our $PREFIXES = join('', map {
    "    location /p$_/ { apikey on; apikey_prefix " . kp($_) . ";"
    . " apikey_checksum on;"
    . " proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/backend/; }\n"
} (1, 7, 64, 65, 200, 218));

run_tests();

__DATA__

=== TEST 1: key prefixes of 1 to 218 bytes: nginx takes them, apikeyctl too, and its keys pass
--- config eval: $::PREFIXES
--- request eval
[(map { ::ctl('create', '--id', "kp-$_", '--key-prefix', ::kp($_)) . "&save=p$_" }
      (1, 7, 64, 65, 200, 218)),
 "GET /ctl/sleep?sleep=0.2",
 (map { ::send("p$_", "GET", "/p$_/x") } (1, 7, 64, 65, 200, 218)),
 ::send("p218", "GET", "/p200/x")]
--- response_body_like eval
[("exit=0") x 6, "",
 ("^200 backend GET") x 6,
 '^401 \{"detail":"Invalid API key"\}$']



=== TEST 2: a key prefix of 219 bytes is refused by nginx -t
--- config eval
"location /api/ { apikey on; apikey_prefix " . ::kp(219) . "; proxy_pass http://127.0.0.1:1/; }"
--- must_die
--- error_log
it must be 1 to 218 token characters



=== TEST 3: a key prefix of 255 bytes is refused by nginx -t
--- config eval
"location /api/ { apikey on; apikey_prefix " . ::kp(255) . "; proxy_pass http://127.0.0.1:1/; }"
--- must_die
--- error_log
it must be 1 to 218 token characters



=== TEST 4: a key prefix with padding is refused by nginx -t
--- config
    location /api/ { apikey on; apikey_prefix "tk="; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "tk=" in "apikey_prefix" directive



=== TEST 5: apikeyctl refuses the key prefixes nginx refuses
--- config
--- request eval
[::ctl('create', '--key-prefix', ::kp(219)),
 ::ctl('create', '--key-prefix', ::kp(255)),
 ::ctl('create', '--key-prefix', 'tk='),
 ::ctl('create', '--key-prefix', 'tk:'),
 ::ctl('rotate', 'k-full', '--key-prefix', ::kp(219)),
 ::ctl('create', '--key-prefix', ::kp(218), '--id', 'kp-ok')]
--- response_body_like eval
['^exit=1$', '^exit=1$', '^exit=1$', '^exit=1$', '^exit=1$',
 '^exit=0$']



=== TEST 6: a Redis prefix of 128 bytes: nginx and apikeyctl take it, and the key passes
--- http_config eval
"    apikey_zone keys:4m;\n"
. "    apikey_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT prefix=" . ::rp(128) . ";\n"
--- init
1
--- config eval: $ApikeyTest::API
--- request eval
[::ctl('--prefix', ::rp(128), 'create', '--id', 'rp-128') . "&save=rp&sleep=0.2",
 ::send("rp", "GET", "/api/x"),
 ::ctl('--prefix', ::rp(128), 'revoke', 'rp-128') . "&sleep=0.2",
 ::send("rp", "GET", "/api/x"),
 ::ctl('--prefix', ::rp(128), 'delete', 'rp-128')]
--- response_body_like eval
["exit=0", "^200 backend GET", "exit=0", '^401 \{"detail":"Invalid API key"\}$',
 "exit=0"]



=== TEST 7: a Redis prefix of 129 bytes is refused by nginx -t
--- http_config eval
"    apikey_zone keys:4m;\n"
. "    apikey_redis 127.0.0.1:6379 prefix=" . ::rp(129) . ";\n"
--- config
--- must_die
--- error_log
invalid parameter "prefix=



=== TEST 8: apikeyctl refuses a Redis prefix of 129 bytes
--- config
--- request eval
[::ctl('--prefix', ::rp(129), 'list'),
 ::ctl('--prefix', ::rp(128), 'list')]
--- response_body_like eval
['^exit=1$', '^exit=0$']



=== TEST 9: ids: apikeyctl finds any id the module loads (a space, UTF-8), and creates only plain ones
--- init
ApikeyTest::seed(keys => [
    [ ApikeyTest::make_key('SpAcE000000000000000000000000015'),
      id => 'user 1', access => 'full' ],
    [ ApikeyTest::make_key('UtF8000000000000000000000000016'),
      id => "caf\xc3\xa9", access => 'full' ]]);
--- config eval: $ApikeyTest::API
--- request eval
["GET /api/x", "GET /api/x",
 ::ctl('revoke', 'user 1'), ::ctl('revoke', "caf\xc3\xa9") . "&sleep=0.2",
 "GET /api/x", "GET /api/x",
 ::ctl('create', '--id', 'user 2'),
 ::ctl('show', "bad\x01id")]
--- more_headers eval
["X-Secret-Key: " . ApikeyTest::make_key('SpAcE000000000000000000000000015'),
 "X-Secret-Key: " . ApikeyTest::make_key('UtF8000000000000000000000000016'),
 "", "",
 "X-Secret-Key: " . ApikeyTest::make_key('SpAcE000000000000000000000000015'),
 "X-Secret-Key: " . ApikeyTest::make_key('UtF8000000000000000000000000016'),
 "", ""]
--- error_code eval
[200, 200, 200, 200, 401, 401, 200, 200]
--- response_body_like eval
["^backend GET", "^backend GET", "exit=0", "exit=0",
 '^\{"detail":"Invalid API key"\}$', '^\{"detail":"Invalid API key"\}$',
 "exit=1", "exit=1"]



=== TEST 10: grants: resources the module reads (a ':' inside, UTF-8) are written as given
--- config
    location /a:b/ {
        apikey on;
        apikey_resource "a:b";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request eval
[::ctl('create', '--id', 'g-colon', '--access', 'limited', '--grant', 'a:b:w') . "&save=gc",
 ::ctl('create', '--id', 'g-utf8', '--access', 'limited', '--grant', "r\xc3\xa9s:r"),
 "GET /ctl/sleep?sleep=0.2",
 ::send("gc", "POST", "/a:b/x"),
 ::ctl('create', '--access', 'limited', '--grant', "a\x01b:r"),
 ::ctl('create', '--access', 'limited', '--grant', 'ab:'),
 ::ctl('create', '--access', 'limited', '--grant', ":r")]
--- response_body_like eval
["exit=0", "exit=0", "", "^200 backend POST", "exit=1", "exit=1", "exit=1"]
