# docs/decision.md, "What each refusal sends": every refusal's status and exact body, in both dialects
# of apikey_error_style, with Content-Type and WWW-Authenticate.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
no_shuffle();

sub api {
    my ($style) = @_;
    return <<"_EOC_";
    location /api/ {
        apikey on;
        apikey_error_style $style;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /orders/ {
        apikey on;
        apikey_error_style $style;
        apikey_resource orders;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/backend/;
    }
_EOC_
}

our @REQUESTS = ("GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x",
                 "POST /orders/x", "GET /api/x", "GET /api/x", "GET /api/x",
                 "GET /api/x");

our @HEADERS = ("", "X-Secret-Key: $ApikeyTest::KEY{inactive}",
                "X-Secret-Key: $ApikeyTest::KEY{expired}",
                "X-Secret-Key: $ApikeyTest::KEY{ipdeny}",
                "X-Secret-Key: $ApikeyTest::KEY{limited}",
                ("X-Secret-Key: $ApikeyTest::KEY{quota3}") x 4);

our @CODES = (401, 401, 401, 403, 403, 200, 200, 200, 429);

our $UNAUTH = '{"error":"Unauthorized","message":"Invalid or missing X-Secret-Key header","status_code":401}';

run_tests();

__DATA__

=== TEST 1: detail style (the default), every refusal
--- config eval: ::api("detail")
--- request eval: [@::REQUESTS]
--- more_headers eval: [@::HEADERS]
--- error_code eval: [@::CODES]
--- response_body eval
['{"detail":"Missing API key"}',
 '{"detail":"Invalid API key"}',
 '{"detail":"API key expired"}',
 '{"detail":"Client address not allowed for this API key"}',
 '{"detail":"API key lacks permission for this operation"}',
 "backend GET /backend/x x-secret-key=[] authorization=[]\n",
 "backend GET /backend/x x-secret-key=[] authorization=[]\n",
 "backend GET /backend/x x-secret-key=[] authorization=[]\n",
 '{"detail":"Rate limit exceeded"}']



=== TEST 2: error style, every refusal
quota3's four requests of TEST 1 must not count here: a fresh zone
--- fresh_zone
--- config eval: ::api("error")
--- request eval: [@::REQUESTS]
--- more_headers eval: [@::HEADERS]
--- error_code eval: [@::CODES]
--- response_body eval
[$::UNAUTH, $::UNAUTH,
 '{"error":"Unauthorized","message":"Secret key expired","status_code":401}',
 '{"error":"Forbidden","message":"Client address not allowed","status_code":403}',
 '{"error":"Forbidden","message":"Secret key lacks permissions","status_code":403}',
 "backend GET /backend/x x-secret-key=[] authorization=[]\n",
 "backend GET /backend/x x-secret-key=[] authorization=[]\n",
 "backend GET /backend/x x-secret-key=[] authorization=[]\n",
 '{"error":"Too Many Requests","message":"Rate limit exceeded","status_code":429}']



=== TEST 3: refusals are application/json, 401s carry WWW-Authenticate
--- config eval: ::api("detail")
--- request eval: [@::REQUESTS[0, 1, 2, 3, 4]]
--- more_headers eval: [@::HEADERS[0, 1, 2, 3, 4]]
--- error_code eval: [401, 401, 401, 403, 403]
--- response_headers eval
["Content-Type: application/json\nWWW-Authenticate: Bearer",
 "Content-Type: application/json\nWWW-Authenticate: Bearer error=\"invalid_token\"",
 "Content-Type: application/json\nWWW-Authenticate: Bearer error=\"invalid_token\"",
 "Content-Type: application/json\n!WWW-Authenticate",
 "Content-Type: application/json\n!WWW-Authenticate"]



=== TEST 4: 503 in the error style
--- init: 1
--- http_config
    # not "keys", which under TEST_NGINX_USE_HUP=1 outlives the reload
    # loaded: this zone must never have been
    apikey_zone unsynced:4m;
    apikey_redis 127.0.0.1:1;
--- config eval: ::api("error")
--- more_headers eval
"X-Secret-Key: $ApikeyTest::KEY{full}"
--- request
GET /api/x
--- error_code: 503
--- response_body chomp
{"error":"Service Unavailable","message":"Authentication unavailable","status_code":503}



=== TEST 5: the style is inherited from http and server levels
--- http_config eval: $ApikeyTest::HTTP_CONFIG . "apikey_error_style error;"
--- config
    location /api/ {
        apikey on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request
GET /api/x
--- error_code: 401
--- response_body eval: $::UNAUTH



=== TEST 6: a HEAD refusal has the headers and no body
--- config eval: ::api("detail")
--- request
HEAD /api/x
--- error_code: 401
--- response_headers
Content-Type: application/json
Content-Length: 28
--- response_body
