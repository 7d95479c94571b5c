# docs/decision.md, steps 4 to 9: what each record allows, in that order,
# and the variables of docs/directives.md set by the decision.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
no_shuffle();

our $API = <<'_EOC_';
    location /api/ {
        apikey on;
        add_header X-Apikey-Status $apikey_status always;
        add_header X-Apikey-Id $apikey_id always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /orders/ {
        apikey on;
        apikey_resource orders;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /billing/ {
        apikey on;
        apikey_resource billing;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location ~ ^/res/(?<res>\w+)/ {
        apikey on;
        apikey_resource $res;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend$uri;
    }
_EOC_

sub req { my ($k, @r) = @_; return [ map { "X-Secret-Key: $ApikeyTest::KEY{$k}" } @r ] }

run_tests();

__DATA__

=== TEST 1: a full key may use every method
--- config eval: $::API
--- request eval
["GET /api/x", "POST /api/x", "DELETE /api/x", "PUT /api/x", "PATCH /api/x"]
--- more_headers eval
[("X-Secret-Key: $ApikeyTest::KEY{full}") x 5]
--- error_code eval
[200, 200, 200, 200, 200]



=== TEST 2: a read key may GET, HEAD and OPTIONS, and nothing else
--- config eval: $::API
--- request eval
["GET /api/x", "HEAD /api/x", "OPTIONS /api/x", "POST /api/x", "DELETE /api/x", "PUT /api/x"]
--- more_headers eval
[("X-Secret-Key: $ApikeyTest::KEY{read}") x 6]
--- error_code eval
[200, 200, 200, 403, 403, 403]
--- response_body eval
["backend GET /backend/x x-secret-key=[] authorization=[]\n", "",
 "backend OPTIONS /backend/x x-secret-key=[] authorization=[]\n",
 '{"detail":"API key lacks permission for this operation"}',
 '{"detail":"API key lacks permission for this operation"}',
 '{"detail":"API key lacks permission for this operation"}']



=== TEST 3: a limited key: r allows reading its resource, w allows writing
--- config eval: $::API
--- request eval
["GET /orders/1", "POST /orders/1", "GET /billing/1", "DELETE /billing/1",
 "GET /api/x", "POST /api/x"]
--- more_headers eval
[("X-Secret-Key: $ApikeyTest::KEY{limited}") x 6]
--- error_code eval
[200, 403, 200, 200, 403, 403]



=== TEST 4: apikey_resource takes variables
--- config eval: $::API
--- request eval
["GET /res/orders/1", "POST /res/orders/1", "PUT /res/billing/2", "GET /res/users/1"]
--- more_headers eval
[("X-Secret-Key: $ApikeyTest::KEY{limited}") x 4]
--- error_code eval
[200, 403, 200, 403]



=== TEST 5: a w-only grant implies r; resources are case-sensitive
--- init
ApikeyTest::seed(keys => [[ApikeyTest::make_key("WoNlY000000000000000000000000020"),
    id => 'k-w', access => 'limited', grants => 'orders:w']]);
--- config eval: $::API
--- request eval
["GET /res/orders/1", "POST /res/orders/1", "GET /res/Orders/1"]
--- more_headers eval
[("X-Secret-Key: " . ApikeyTest::make_key("WoNlY000000000000000000000000020")) x 3]
--- error_code eval
[200, 200, 403]



=== TEST 6: an unknown key is 401 invalid, WWW-Authenticate says invalid_token
--- config eval: $::API
--- more_headers eval
"X-Secret-Key: " . ApikeyTest::make_key("NoSuChKeY0000000000000000000099")
--- request
GET /api/x
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token"
X-Apikey-Status: invalid
--- response_body chomp
{"detail":"Invalid API key"}



=== TEST 7: an inactive key is 401 invalid
--- config eval: $::API
--- more_headers eval
"X-Secret-Key: $ApikeyTest::KEY{inactive}"
--- request
GET /api/x
--- error_code: 401
--- response_headers
X-Apikey-Id: k-inactive
--- response_body chomp
{"detail":"Invalid API key"}



=== TEST 8: an expired key is 401 expired; an unexpired one passes
--- config eval: $::API
--- request eval
["GET /api/x", "GET /api/x"]
--- more_headers eval
["X-Secret-Key: $ApikeyTest::KEY{expired}", "X-Secret-Key: $ApikeyTest::KEY{future}"]
--- error_code eval
[401, 200]
--- response_body eval
['{"detail":"API key expired"}', "backend GET /backend/x x-secret-key=[] authorization=[]\n"]



=== TEST 9: a key that expires this very second is expired
--- timeout: 20
--- init
# the digest first: python3 may take seconds to start on a loaded machine
ApikeyTest::digest(ApikeyTest::make_key("NoW00000000000000000000000000021"));
ApikeyTest::seed(keys => [[ApikeyTest::make_key("NoW00000000000000000000000000021"),
    id => 'k-now', access => 'full', expires => int(time()) + 8]]);
--- config eval: $::API
--- request eval
["GET /api/x", "GET /ctl/sleep?sleep=8.5", "GET /api/x"]
--- more_headers eval
[("X-Secret-Key: " . ApikeyTest::make_key("NoW00000000000000000000000000021")) x 3]
--- error_code eval
[200, 200, 401]



=== TEST 10: the client address must be inside one of the record's ips
--- config eval: $::API
--- request eval
["GET /api/x", "GET /api/x"]
--- more_headers eval
["X-Secret-Key: $ApikeyTest::KEY{ipdeny}", "X-Secret-Key: $ApikeyTest::KEY{ipallow}"]
--- error_code eval
[403, 200]
--- response_body eval
['{"detail":"Client address not allowed for this API key"}',
 "backend GET /backend/x x-secret-key=[] authorization=[]\n"]



=== TEST 11: ips honour the real client address from the realip module
--- config
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Real-IP;
    location /api/ {
        apikey on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request eval
["GET /api/x", "GET /api/x", "GET /api/x"]
--- more_headers eval
["X-Real-IP: 10.1.2.3\r\nX-Secret-Key: $ApikeyTest::KEY{ipdeny}",
 "X-Real-IP: 10.2.2.3\r\nX-Secret-Key: $ApikeyTest::KEY{ipdeny}",
 "X-Real-IP: 2001:db8::5\r\nX-Secret-Key: $ApikeyTest::KEY{ipdeny}"]
--- error_code eval
[200, 403, 200]



=== TEST 12: order: an inactive key that is also expired is invalid
--- init
ApikeyTest::seed(keys => [
    [ApikeyTest::make_key("OrDeR0000000000000000000000000022"),
     id => 'k-order1', access => 'read', active => 0, expires => 1000,
     ips => '10.9.9.9'],
    [ApikeyTest::make_key("OrDeR0000000000000000000000000023"),
     id => 'k-order2', access => 'read', expires => 1000, ips => '10.9.9.9'],
    [ApikeyTest::make_key("OrDeR0000000000000000000000000024"),
     id => 'k-order3', access => 'read', ips => '10.9.9.9']]);
--- config eval: $::API
--- request eval
["POST /api/x", "POST /api/x", "POST /api/x"]
--- more_headers eval
["X-Secret-Key: " . ApikeyTest::make_key("OrDeR0000000000000000000000000022"),
 "X-Secret-Key: " . ApikeyTest::make_key("OrDeR0000000000000000000000000023"),
 "X-Secret-Key: " . ApikeyTest::make_key("OrDeR0000000000000000000000000024")]
--- error_code eval
[401, 401, 403]
--- response_body eval
['{"detail":"Invalid API key"}', '{"detail":"API key expired"}',
 '{"detail":"Client address not allowed for this API key"}']



=== TEST 13: records that break the schema are refused
--- config eval: $::API
--- request eval
["GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x"]
--- more_headers eval
["X-Secret-Key: $ApikeyTest::KEY{badaccess}", "X-Secret-Key: $ApikeyTest::KEY{badips}",
 "X-Secret-Key: $ApikeyTest::KEY{badexpiry}", "X-Secret-Key: $ApikeyTest::KEY{noid}"]
--- error_code eval
[401, 401, 401, 401]



=== TEST 14: ... each with one error-log line naming its id
--- config eval: $::API
--- more_headers eval
"X-Secret-Key: $ApikeyTest::KEY{badaccess}"
--- request
GET /api/x
--- error_code: 401
--- error_log
skipped the record with id "broken-access": unknown "access"
skipped the record with id "broken-ips": bad CIDR in "ips"
skipped the record with id "broken-expires": "expires" is not a number of seconds
: no "id"



=== TEST 15: variables on success
--- config
    location /api/ {
        apikey on;
        apikey_prefix taapit_;
        add_header X-Vars "$apikey_id|$apikey_owner|$apikey_name|$apikey_access|$apikey_status|$apikey_masked" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- more_headers eval
"X-Secret-Key: $ApikeyTest::KEY{limited}"
--- request
GET /api/x
--- error_code: 403
--- response_headers eval
"X-Vars: k-limited|acme|Limited key|limited|forbidden|taapit_LiMi..." . substr($ApikeyTest::KEY{limited}, -4)



=== TEST 16: variables when no key was given, and with the module off
--- config
    location /api/ {
        apikey on;
        add_header X-Vars "[$apikey_id|$apikey_status|$apikey_masked]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /off/ {
        add_header X-Vars "[$apikey_id|$apikey_status|$apikey_masked]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request eval
["GET /api/x", "GET /off/x"]
--- error_code eval
[401, 200]
--- response_headers eval
["X-Vars: [|missing|]", "X-Vars: [||]"]



=== TEST 17: a mirror never loaded (Redis unreachable at start) is 503
--- init: 1
--- http_config
    # not "keys", which under TEST_NGINX_USE_HUP=1 outlives the reload
    # loaded: this zone must never have been
    apikey_zone unsynced:4m;
    apikey_redis 127.0.0.1:1;
--- config eval: $::API
--- more_headers eval
"X-Secret-Key: $ApikeyTest::KEY{full}"
--- request
GET /api/x
--- error_code: 503
--- response_headers
Content-Type: application/json
X-Apikey-Status: unavailable
!WWW-Authenticate
--- response_body chomp
{"detail":"Authentication unavailable"}



=== TEST 18: the digest is keyed with apikey_hash_secret
--- init
ApikeyTest::seed(secret => 'S' x 40);
--- user_files
>>> secret.txt
SSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    apikey_hash_secret ../html/secret.txt;
--- config eval: $::API
--- request eval
["GET /api/x"]
--- more_headers eval
["X-Secret-Key: $ApikeyTest::KEY{full}"]
--- error_code eval
[200]



=== TEST 19: without the secret the same records do not match
--- init
ApikeyTest::seed(secret => 'S' x 40);
--- config eval: $::API
--- more_headers eval
"X-Secret-Key: $ApikeyTest::KEY{full}"
--- request
GET /api/x
--- error_code: 401



=== TEST 20: a static file behind the module is guarded too
--- config
    location /files/ {
        apikey on;
        alias html/;
    }
--- user_files
>>> hello.txt
hello
--- request eval
["GET /files/hello.txt", "GET /files/hello.txt"]
--- more_headers eval
["", "X-Secret-Key: $ApikeyTest::KEY{read}"]
--- error_code eval
[401, 200]
--- response_body eval
['{"detail":"Missing API key"}', "hello\n"]
