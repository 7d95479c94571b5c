# docs/decision.md, steps 2 and 3: which headers carry the key, duplicates and
# disagreements, the key's syntax, prefix and checksum, and what reaches the
# upstream.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
no_shuffle();

our $API = <<'_EOC_';
    location /api/ {
        apikey on;
        add_header X-Apikey-Status $apikey_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
_EOC_

# Redis is never reachable here: a key that passes the syntax check gets
# 503 (mirror not loaded), one that fails it gets 401 before any lookup.
# The zone is not the other blocks' "keys": under TEST_NGINX_USE_HUP=1 that
# one outlives the reload, loaded, and this one must never have been.
our $NO_REDIS = <<'_EOC_';
    apikey_zone unsynced:4m;
    apikey_redis 127.0.0.1:1;
_EOC_

run_tests();

__DATA__

=== TEST 1: no key at all is 401 missing, with WWW-Authenticate: Bearer
--- config eval: $::API
--- request
GET /api/x
--- error_code: 401
--- response_headers
Content-Type: application/json
WWW-Authenticate: Bearer
X-Apikey-Status: missing
--- response_body chomp
{"detail":"Missing API key"}



=== TEST 2: X-Secret-Key is read, and removed before the upstream
--- config eval: $::API
--- more_headers eval
"X-Secret-Key: $ApikeyTest::KEY{full}"
--- request
GET /api/x
--- error_code: 200
--- response_headers
X-Apikey-Status: ok
--- response_body
backend GET /backend/x x-secret-key=[] authorization=[]



=== TEST 3: Authorization: Bearer is read, and removed before the upstream
--- config eval: $::API
--- more_headers eval
"Authorization: Bearer $ApikeyTest::KEY{full}"
--- request
GET /api/x
--- error_code: 200
--- response_body
backend GET /backend/x x-secret-key=[] authorization=[]



=== TEST 4: the scheme Bearer in any case
--- config eval: $::API
--- request eval
["GET /api/a", "GET /api/b", "GET /api/c"]
--- more_headers eval
["Authorization: bearer $ApikeyTest::KEY{full}",
 "Authorization: BEARER $ApikeyTest::KEY{full}",
 "Authorization: BeArEr    $ApikeyTest::KEY{full}"]
--- error_code eval
[200, 200, 200]



=== TEST 5: another Authorization scheme is no key, and is passed on
--- config eval: $::API
--- more_headers
Authorization: Basic dXNlcjpwYXNz
--- request
GET /api/x
--- error_code: 401
--- response_body chomp
{"detail":"Missing API key"}



=== TEST 6: Basic beside X-Secret-Key: the key counts, Basic goes upstream
--- config eval: $::API
--- more_headers eval
"Authorization: Basic dXNlcjpwYXNz\r\nX-Secret-Key: $ApikeyTest::KEY{full}"
--- request
GET /api/x
--- error_code: 200
--- response_body
backend GET /backend/x x-secret-key=[] authorization=[Basic dXNlcjpwYXNz]



=== TEST 7: two X-Secret-Key headers are 401 invalid
--- config eval: $::API
--- more_headers eval
"X-Secret-Key: $ApikeyTest::KEY{full}\r\nX-Secret-Key: $ApikeyTest::KEY{full}"
--- request
GET /api/x
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token"
--- response_body chomp
{"detail":"Invalid API key"}



=== TEST 8: two Authorization headers are 401 invalid, not nginx's 400
--- config eval: $::API
--- more_headers eval
"Authorization: Bearer $ApikeyTest::KEY{full}\r\nAuthorization: Bearer $ApikeyTest::KEY{full}"
--- request
GET /api/x
--- error_code: 401
--- response_body chomp
{"detail":"Invalid API key"}



=== TEST 9: two Authorization headers where the module is off: nginx's 400
--- config
    location /open/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /api/ {
        apikey on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- more_headers
Authorization: Basic a
Authorization: Basic b
--- request
GET /open/x
--- error_code: 400



=== TEST 10: the same key in both headers is one key
--- config eval: $::API
--- more_headers eval
"Authorization: Bearer $ApikeyTest::KEY{full}\r\nX-Secret-Key: $ApikeyTest::KEY{full}"
--- request
GET /api/x
--- error_code: 200
--- response_body
backend GET /backend/x x-secret-key=[] authorization=[]



=== TEST 11: different keys in the two headers are 401 invalid
--- config eval: $::API
--- more_headers eval
"Authorization: Bearer $ApikeyTest::KEY{full}\r\nX-Secret-Key: $ApikeyTest::KEY{read}"
--- request
GET /api/x
--- error_code: 401
--- response_body chomp
{"detail":"Invalid API key"}



=== TEST 12: an empty bearer token and an empty X-Secret-Key are invalid
--- config eval: $::API
--- request eval
["GET /api/a", "GET /api/b"]
--- more_headers eval
["Authorization: Bearer", "X-Secret-Key: "]
--- error_code eval
[401, 401]
--- response_body eval
['{"detail":"Invalid API key"}', '{"detail":"Invalid API key"}']



=== TEST 13: syntax: token characters and trailing '=' pass, others fail first
--- init: 1
--- http_config eval: $::NO_REDIS
--- config eval: $::API
--- request eval
["GET /api/1", "GET /api/2", "GET /api/3", "GET /api/4", "GET /api/5",
 "GET /api/6", "GET /api/7"]
--- more_headers eval
["X-Secret-Key: abc-._~+/XYZ09==",
 "X-Secret-Key: abc=def",
 "X-Secret-Key: abc def",
 "X-Secret-Key: abc\"def",
 "X-Secret-Key: ==",
 "X-Secret-Key: " . ("a" x 256),
 "X-Secret-Key: " . ("a" x 257)]
--- error_code eval
[503, 401, 401, 401, 401, 503, 401]



=== TEST 14: syntax: bytes outside ASCII fail
--- init: 1
--- http_config eval: $::NO_REDIS
--- config eval: $::API
--- raw_request eval
"GET /api/x HTTP/1.0\r\nX-Secret-Key: abc\xc3\xa9def\r\n\r\n"
--- error_code: 401
--- response_body chomp
{"detail":"Invalid API key"}



=== TEST 15: apikey_prefix: a key without it is invalid before any lookup
--- init: 1
--- http_config eval: $::NO_REDIS
--- config
    location /api/ {
        apikey on;
        apikey_prefix taapit_;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request eval
["GET /api/a", "GET /api/b", "GET /api/c"]
--- more_headers eval
["X-Secret-Key: taapit_abcdef", "X-Secret-Key: other_abcdef",
 "X-Secret-Key: taapit_"]
--- error_code eval
[503, 401, 401]



=== TEST 16: apikey_checksum on: only keys ending in their checksum pass
--- init: 1
--- http_config eval: $::NO_REDIS
--- config
    location /api/ {
        apikey on;
        apikey_checksum on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request eval
["GET /api/a", "GET /api/b", "GET /api/c"]
--- more_headers eval
["X-Secret-Key: " . ApikeyTest::make_key("abcdefghijklmnopqrstuvwxyz012345"),
 "X-Secret-Key: taapit_abcdefghijklmnopqrstuvwxyz012345000000",
 "X-Secret-Key: taapit_abc43ksqK"]
--- error_code eval
[503, 401, 503]



=== TEST 17: apikey_checksum on lets a real key through
--- config
    location /api/ {
        apikey on;
        apikey_checksum on;
        apikey_prefix taapit_;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- more_headers eval
"X-Secret-Key: $ApikeyTest::KEY{full}"
--- request
GET /api/x
--- error_code: 200



=== TEST 18: apikey_headers x-secret-key: Authorization is not a key, and stays
--- config
    location /api/ {
        apikey on;
        apikey_headers x-secret-key;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request eval
["GET /api/a", "GET /api/b"]
--- more_headers eval
["Authorization: Bearer $ApikeyTest::KEY{full}",
 "Authorization: Bearer xyz\r\nX-Secret-Key: $ApikeyTest::KEY{full}"]
--- error_code eval
[401, 200]
--- response_body eval
['{"detail":"Missing API key"}',
 "backend GET /backend/b x-secret-key=[] authorization=[Bearer xyz]\n"]



=== TEST 19: apikey_headers x-secret-key: no WWW-Authenticate on 401
--- config
    location /api/ {
        apikey on;
        apikey_headers x-secret-key;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request
GET /api/x
--- error_code: 401
--- response_headers
!WWW-Authenticate



=== TEST 20: apikey_headers bearer: X-Secret-Key is not a key
--- config
    location /api/ {
        apikey on;
        apikey_headers bearer;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request eval
["GET /api/a", "GET /api/b"]
--- more_headers eval
["X-Secret-Key: $ApikeyTest::KEY{full}",
 "Authorization: Bearer $ApikeyTest::KEY{full}"]
--- error_code eval
[401, 200]



=== TEST 21: apikey_pass_key on: the upstream gets the key header
--- config
    location /api/ {
        apikey on;
        apikey_pass_key on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- more_headers eval
"X-Secret-Key: $ApikeyTest::KEY{full}"
--- request
GET /api/x
--- error_code: 200
--- response_body eval
"backend GET /backend/x x-secret-key=[$ApikeyTest::KEY{full}] authorization=[]\n"



=== TEST 22: apikey off: not involved
--- config
    location /api/ {
        apikey off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request
GET /api/x
--- error_code: 200



=== TEST 23: http-level apikey on is inherited, a location can turn it off
--- http_config eval: $ApikeyTest::HTTP_CONFIG . "apikey on;"
--- config
    location /api/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /open/ {
        apikey off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location = /ok { apikey off; return 200; }
--- request eval
["GET /api/x", "GET /open/x"]
--- error_code eval
[401, 200]
