# The operator's own key header: "apikey_headers header:<name>" (for
# clients that already send X-API-Key, api-key or
# Ocp-Apim-Subscription-Key).  The header is read, checked, removed and
# hidden exactly as X-Secret-Key is; the error style's 401 names it; bad
# names are refused by nginx -t (docs/directives.md, apikey_headers).
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;
use JSON::PP ();

apikey_setup();
no_shuffle();

our $BACKEND = 'http://127.0.0.1:$TEST_NGINX_SERVER_PORT';

# echoes every key header it receives
our $KB = <<'_EOC_';
    location /kb/ {
        apikey off;
        return 200 "kb $request_method $uri x-api-key=[$http_x_api_key] api-key=[$http_api_key] x-secret-key=[$http_x_secret_key] authorization=[$http_authorization]\n";
    }
_EOC_

sub key { $ApikeyTest::KEY{$_[0]} }
sub xak { "X-API-Key: " . key($_[0]) }

# $apikey_masked of a key, no apikey_prefix: its first and last four
sub masked { substr(key($_[0]), 0, 4) . '...' . substr(key($_[0]), -4) }

# what the backend says when it got no key header at all
sub clean { "kb $_[0] $_[1] x-api-key=[] api-key=[] x-secret-key=[] authorization=[]\n" }

our $SHORT = 'short-key-123';
our $CLEAN_X = clean('GET', '/kb/x');

# "--- valid_json": the response body must parse as JSON
Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body) = @_;
    return unless defined $block->valid_json;
    my $ok = eval { JSON::PP::decode_json($body); 1 };
    Test::More::ok($ok, $block->name . " - the body is valid JSON")
        or Test::More::diag($body);
});

# The HTTP/2 server: the same guarded location on TEST_NGINX_SERVER_PORT2.
our $H2 = <<'_EOC_';
    server {
        listen 127.0.0.1:$TEST_NGINX_SERVER_PORT2 http2;

        location /api/ {
            apikey on;
            apikey_headers header:X-API-Key;
            add_header X-Apikey-Status $apikey_status always;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/kb/;
        }
        location /app/ {
            auth_request /auth;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/kb/;
        }
        location = /auth {
            internal;
            apikey on;
            apikey_headers header:X-API-Key;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/kb/auth;
        }
    }
_EOC_

# One HTTP/2 request through curl: (status, raw headers, body).
sub h2 {
    my ($method, $path, @headers) = @_;
    my $port = $ENV{TEST_NGINX_SERVER_PORT2} || 1985;
    my @cmd = ('curl', '-sS', '--http2-prior-knowledge', '--max-time', '10',
               '-D', '-', '-X', $method);
    push @cmd, '-H', $_ for @headers;
    push @cmd, "http://127.0.0.1:$port$path";
    open my $out, '-|', @cmd or die "curl: $!";
    local $/;
    my $resp = <$out> // '';
    close $out;
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    $head //= '';
    my ($proto, $status) = $head =~ m{^(HTTP/\S+) (\d+)};
    Test::More::is($proto, 'HTTP/2', "$method $path went over HTTP/2");
    return ($status // 0, $head, $body // '');
}

sub run_h2 {
    ApikeyTest::seed();
    my ($s, $h, $b);

    ($s, $h, $b) = h2('GET', '/api/x', 'x-api-key: ' . key('full'));
    Test::More::is($s, 200, 'h2: a key in x-api-key passes');
    Test::More::is($b, clean('GET', '/kb/x'),
                   'h2: the key is removed before the upstream');

    ($s, $h, $b) = h2('GET', '/api/x', 'X-Api-KEY: ' . key('read'));
    Test::More::is($s, 200, 'h2: the name in any case');

    ($s, $h, $b) = h2('POST', '/api/x', 'x-api-key: ' . key('read'));
    Test::More::is($s, 403, 'h2: a read key may not POST');
    Test::More::like($h, qr/^x-apikey-status: forbidden\r?$/mi,
                     'h2: $apikey_status says forbidden');

    ($s, $h, $b) = h2('GET', '/api/x', 'x-api-key: ' . key('full'),
                      'x-api-key: ' . key('full'));
    Test::More::is($s, 401, 'h2: two x-api-key headers are 401');
    Test::More::is($b, '{"detail":"Invalid API key"}', 'h2: invalid body');

    ($s, $h, $b) = h2('GET', '/api/x', 'x-secret-key: ' . key('full'));
    Test::More::is($s, 401, 'h2: x-secret-key is not read here');
    Test::More::unlike($h, qr/^www-authenticate:/mi,
                       'h2: no WWW-Authenticate without bearer');

    ($s, $h, $b) = h2('GET', '/app/x', 'x-api-key: ' . key('read'));
    Test::More::is($s, 200, 'h2: auth_request with a key passes');
    Test::More::is($b, clean('GET', '/kb/x'),
                   'h2: auth_request removes the key from the request');

    ($s, $h, $b) = h2('GET', '/app/x');
    Test::More::is($s, 401, 'h2: auth_request without a key is 401');

    open my $log, '<', $Test::Nginx::Util::ErrLogFile or die "error.log: $!";
    my @lines = <$log>;
    my @leaks = grep { index($_, key('full')) >= 0
                       || index($_, key('read')) >= 0 } @lines;
    Test::More::is(scalar @leaks, 0, 'h2: no key in the (debug) error log')
        or Test::More::diag($leaks[0]);
    Test::More::ok(scalar(grep { /x-api-key: \[hidden\]/ } @lines),
                   'h2: the header lines show [hidden]');
    return 1;
}

run_tests();

__DATA__

=== TEST 1: a key in the custom header is read and removed before the upstream
--- config eval
qq{
    location /api/ {
        apikey on;
        apikey_headers header:X-API-Key;
        add_header X-Apikey-Status \$apikey_status always;
        add_header X-Masked \$apikey_masked always;
        proxy_pass $::BACKEND/kb/;
    }
} . $::KB
--- request eval
["GET /api/x", "GET /api/x", "GET /api/x", "POST /api/x", "GET /api/x",
 "GET /api/x", "GET /api/x"]
--- more_headers eval
[::xak('full'), "x-api-key: " . ::key('read'), "X-Api-KEY: " . ::key('read'),
 ::xak('read'), ::xak('expired'), "X-API-Key: nope", ""]
--- error_code eval
[200, 200, 200, 403, 401, 401, 401]
--- response_headers eval
["X-Apikey-Status: ok\nX-Masked: " . ::masked('full'),
 "X-Apikey-Status: ok\nX-Masked: " . ::masked('read'),
 "X-Apikey-Status: ok",
 "X-Apikey-Status: forbidden\nX-Masked: " . ::masked('read'),
 "X-Apikey-Status: expired\nX-Masked: " . ::masked('expired'),
 "X-Apikey-Status: invalid", "X-Apikey-Status: missing"]
--- response_body eval
[::clean('GET', '/kb/x'), ::clean('GET', '/kb/x'), ::clean('GET', '/kb/x'),
 '{"detail":"API key lacks permission for this operation"}',
 '{"detail":"API key expired"}', '{"detail":"Invalid API key"}',
 '{"detail":"Missing API key"}']



=== TEST 2: only the headers named are read; others pass through untouched
--- config eval
qq{
    location /api/ {
        apikey on;
        apikey_headers header:X-API-Key;
        proxy_pass $::BACKEND/kb/;
    }
    location /std/ {
        apikey on;
        proxy_pass $::BACKEND/kb/;
    }
} . $::KB
--- request eval
["GET /api/x", "GET /api/x", "GET /std/x"]
--- more_headers eval
["X-Secret-Key: " . ::key('full'),
 "Authorization: Bearer " . ::key('full'),
 ::xak('full')]
--- error_code eval
[401, 401, 401]
--- response_body eval
['{"detail":"Missing API key"}', '{"detail":"Missing API key"}',
 '{"detail":"Missing API key"}']
--- response_headers eval
["!WWW-Authenticate", "!WWW-Authenticate", "WWW-Authenticate: Bearer"]



=== TEST 3: apikey_pass_key keeps the custom header for the upstream
--- config eval
qq{
    location /api/ {
        apikey on;
        apikey_headers header:X-API-Key;
        apikey_pass_key on;
        proxy_pass $::BACKEND/kb/;
    }
} . $::KB
--- request
GET /api/x
--- more_headers eval
::xak('full')
--- error_code: 200
--- response_body eval
"kb GET /kb/x x-api-key=[" . ::key('full') . "] api-key=[] x-secret-key=[] authorization=[]\n"



=== TEST 4: two copies, or enabled headers with different keys, are invalid
--- config eval
qq{
    location /api/ {
        apikey on;
        apikey_headers bearer x-secret-key header:X-API-Key header:api-key;
        proxy_pass $::BACKEND/kb/;
    }
} . $::KB
--- request eval
[("GET /api/x") x 9]
--- more_headers eval
[::xak('full') . "\n" . ::xak('full'),
 ::xak('full') . "\n" . ::xak('read'),
 ::xak('full') . "\nX-Secret-Key: " . ::key('read'),
 ::xak('full') . "\nAuthorization: Bearer " . ::key('read'),
 ::xak('full') . "\napi-key: " . ::key('read'),
 ::xak('full') . "\nX-Secret-Key: " . ::key('full'),
 ::xak('full') . "\nAuthorization: Bearer " . ::key('full')
     . "\napi-key: " . ::key('full'),
 "api-key: " . ::key('read'),
 "X-Secret-Key: " . ::key('full') . "\napi-key: " . ::key('full')
     . "\napi-key: " . ::key('full')]
--- error_code eval
[401, 401, 401, 401, 401, 200, 200, 200, 401]
--- response_body eval
['{"detail":"Invalid API key"}', '{"detail":"Invalid API key"}',
 '{"detail":"Invalid API key"}', '{"detail":"Invalid API key"}',
 '{"detail":"Invalid API key"}',
 ::clean('GET', '/kb/x'), ::clean('GET', '/kb/x'), ::clean('GET', '/kb/x'),
 '{"detail":"Invalid API key"}']
--- response_headers eval
["WWW-Authenticate: Bearer error=\"invalid_token\"",
 "WWW-Authenticate: Bearer error=\"invalid_token\"",
 "WWW-Authenticate: Bearer error=\"invalid_token\"",
 "WWW-Authenticate: Bearer error=\"invalid_token\"",
 "WWW-Authenticate: Bearer error=\"invalid_token\"",
 "!WWW-Authenticate", "!WWW-Authenticate", "!WWW-Authenticate",
 "WWW-Authenticate: Bearer error=\"invalid_token\""]



=== TEST 5: refusals remove the custom header too: the access log has no key
--- http_config eval
$ApikeyTest::HTTP_CONFIG . q{
    log_format keys "K[$http_x_api_key] $status M[$apikey_masked]";
}
--- config eval
qq{
    location /api/ {
        apikey on;
        apikey_headers header:X-API-Key;
        access_log logs/access.log keys;
        proxy_pass $::BACKEND/kb/;
    }
} . $::KB
--- request eval
["POST /api/x", "GET /api/x", "GET /api/x"]
--- more_headers eval
[::xak('read'), ::xak('expired'), ::xak('full')]
--- error_code eval
[403, 401, 200]
--- access_log eval
qr/^K\[-\] (403|401|200) M\[taap\.\.\.[0-9A-Za-z]{4}\]$/
--- no_access_log eval
[::key('read'), ::key('expired'), ::key('full')]



=== TEST 6: the debug error log shows the custom header's value hidden
--- config eval
qq{
    location /api/ {
        apikey on;
        apikey_headers header:X-API-Key;
        proxy_pass $::BACKEND/kb/;
    }
} . $::KB
--- request
GET /api/x
--- more_headers eval
"X-API-Key: $::SHORT"
--- error_code: 401
--- error_log
http header: "X-API-Key: [hidden]"
--- no_error_log eval
[$::SHORT, "exited on signal"]



=== TEST 7: nor does a refused key reach the debug log, under any line
--- config eval
qq{
    location /api/ {
        set \$k \$http_x_api_key;
        apikey on;
        apikey_headers header:X-API-Key;
        proxy_pass $::BACKEND/kb/;
    }
} . $::KB
--- request
POST /api/x
--- more_headers eval
::xak('read')
--- error_code: 403
--- error_log
http header: "X-API-Key: [hidden]"
--- no_error_log eval
[::key('read'), "exited on signal"]



=== TEST 8: a key under a near-miss of the custom name stays out of the info log
--- config eval
qq{
    location /api/ {
        apikey on;
        apikey_headers header:X-API-Key;
        proxy_pass $::BACKEND/kb/;
    }
} . $::KB
--- raw_request eval
"GET /api/x HTTP/1.0\r\nHost: localhost\r\nX_API_Key: " . ::key('full') . "\r\n\r\n"
--- error_code: 401
--- log_level: info
--- error_log
client sent invalid header line: "X_API_Key: [hidden]"
--- no_error_log eval
::key('full')



=== TEST 9: the error style's 401 names the custom headers as configured
--- config eval
qq{
    apikey_headers header:X-API-Key;

    location /one/ {
        apikey on;
        apikey_error_style error;
        proxy_pass $::BACKEND/kb/;
    }
    location /two/ {
        apikey on;
        apikey_error_style error;
        apikey_headers bearer header:Ocp-Apim-Subscription-Key header:api-key;
        proxy_pass $::BACKEND/kb/;
    }
    location /std/ {
        apikey on;
        apikey_error_style error;
        apikey_headers bearer x-secret-key;
        proxy_pass $::BACKEND/kb/;
    }
    location /detail/ {
        apikey on;
        proxy_pass $::BACKEND/kb/;
    }
} . $::KB
--- request eval
["GET /one/x", "GET /one/x", "GET /one/x", "GET /two/x", "GET /two/x",
 "GET /std/x", "GET /detail/x"]
--- more_headers eval
["", "X-API-Key: nope", ::xak('expired'), "",
 "api-key: " . ::key('read') . "\nOcp-Apim-Subscription-Key: " . ::key('full'),
 "", ""]
--- error_code eval
[401, 401, 401, 401, 401, 401, 401]
--- response_body eval
['{"error":"Unauthorized","message":"Invalid or missing X-API-Key header","status_code":401}',
 '{"error":"Unauthorized","message":"Invalid or missing X-API-Key header","status_code":401}',
 '{"error":"Unauthorized","message":"Secret key expired","status_code":401}',
 '{"error":"Unauthorized","message":"Invalid or missing Ocp-Apim-Subscription-Key or api-key header","status_code":401}',
 '{"error":"Unauthorized","message":"Invalid or missing Ocp-Apim-Subscription-Key or api-key header","status_code":401}',
 '{"error":"Unauthorized","message":"Invalid or missing X-Secret-Key header","status_code":401}',
 '{"detail":"Missing API key"}']
--- response_headers eval
["!WWW-Authenticate", "!WWW-Authenticate", "!WWW-Authenticate",
 "WWW-Authenticate: Bearer", "WWW-Authenticate: Bearer error=\"invalid_token\"",
 "WWW-Authenticate: Bearer", "!WWW-Authenticate"]



=== TEST 10: any token name gives a body that is valid JSON
--- config
    location /api/ {
        apikey on;
        apikey_error_style error;
        apikey_headers header:X-Key!#$%&'*+.^_`|~0;
        proxy_pass http://127.0.0.1:1/;
    }
--- request
GET /api/x
--- error_code: 401
--- valid_json
--- response_body chomp
{"error":"Unauthorized","message":"Invalid or missing X-Key!#$%&'*+.^_`|~0 header","status_code":401}



=== TEST 11: auth_request decides from the custom header, and removes it
--- config eval
qq{
    location /app/ {
        auth_request /auth;
        proxy_pass $::BACKEND/kb/;
    }
    location = /auth {
        internal;
        apikey on;
        apikey_headers header:X-API-Key;
        proxy_pass $::BACKEND/kb/auth;
    }
} . $::KB
--- request eval
["GET /app/x", "GET /app/x", "POST /app/x"]
--- more_headers eval
["", ::xak('read'), ::xak('read')]
--- error_code eval
[401, 200, 403]
--- response_body_like eval
[qr/401 Authorization Required/, qr/^\Q$::CLEAN_X\E$/, qr/403 Forbidden/]



=== TEST 12: a redirect decides from the custom header the first pass read
--- config eval
qq{
    apikey on;

    location /php/ {
        apikey_headers bearer;
        try_files \$uri \@app;
    }
    location \@app {
        apikey_headers header:X-API-Key;
        rewrite ^ /kb/app break;
        proxy_pass $::BACKEND;
    }
} . $::KB
--- request eval
["GET /php/x", "GET /php/x"]
--- more_headers eval
["Authorization: Bearer " . ::key('full') . "\n" . ::xak('full'),
 "Authorization: Bearer " . ::key('full')]
--- error_code eval
[200, 401]
--- response_body eval
[::clean('GET', '/kb/app'), '{"detail":"Missing API key"}']



=== TEST 13: guarded requests over HTTP/2
--- http_config eval
$ApikeyTest::HTTP_CONFIG . $::H2
--- init
::run_h2();
--- config eval
qq{
    location /api/ {
        apikey on;
        apikey_headers header:X-API-Key;
        proxy_pass $::BACKEND/kb/;
    }
} . $::KB
--- request
GET /api/x
--- more_headers eval
::xak('full')
--- error_code: 200
--- response_body eval
::clean('GET', '/kb/x')



=== TEST 14: an empty name
--- config
    location /api/ { apikey on; apikey_headers bearer header:; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "header:" in "apikey_headers" directive, the header name is empty



=== TEST 15: a name that is not a token
--- config
    location /api/ { apikey on; apikey_headers "header:X API"; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "header:X API" in "apikey_headers" directive, the header name must be token characters



=== TEST 16: a name with a slash is not a token either
--- config
    location /api/ { apikey on; apikey_headers header:X/Key; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "header:X/Key" in "apikey_headers" directive, the header name must be token characters



=== TEST 17: a built-in header under header:
--- config
    location /api/ { apikey on; apikey_headers header:authorization; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "header:authorization" in "apikey_headers" directive, Authorization is read by "bearer"



=== TEST 18: X-Secret-Key under header:
--- config
    location /api/ { apikey on; apikey_headers bearer header:X-SECRET-KEY; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "header:X-SECRET-KEY" in "apikey_headers" directive, X-Secret-Key is read by "x-secret-key"



=== TEST 19: a header nginx reads itself
--- config
    location /api/ { apikey on; apikey_headers header:Cookie; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "header:Cookie" in "apikey_headers" directive, nginx reads that header itself



=== TEST 20: a method override header
--- config
    location /api/ { apikey on; apikey_headers header:X-HTTP-Method-Override; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "header:X-HTTP-Method-Override" in "apikey_headers" directive, a method override header cannot carry keys



=== TEST 21: the same name twice
--- config
    location /api/ { apikey on; apikey_headers header:X-API-Key header:x-api-key; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "header:x-api-key" in "apikey_headers" directive, the header is named twice



=== TEST 22: a name longer than 64 characters
--- config eval
"    location /api/ { apikey on; apikey_headers header:" . ("K" x 65) . "; proxy_pass http://127.0.0.1:1/; }"
--- must_die
--- error_log
the header name is longer than 64 characters



=== TEST 23: more than eight different names in the http block
--- config eval
CORE::join("", map { "    location /l$_/ { apikey on; apikey_headers header:K$_; proxy_pass http://127.0.0.1:1/; }\n" } 1 .. 9)
--- must_die
--- error_log
invalid value "header:K9" in "apikey_headers" directive, the http block may name at most 8 different headers



=== TEST 24: eight names, shared by locations, are fine
--- config eval
CORE::join("", map { "    location /l$_/ { apikey on; apikey_headers header:K$_ header:K" . ($_ % 8 + 1) . "; proxy_pass http://127.0.0.1:1/; }\n" } 1 .. 8)
. qq{    location /api/ { apikey on; apikey_headers header:k8; proxy_pass $::BACKEND/kb/; }\n} . $::KB
--- request
GET /api/x
--- more_headers eval
"K8: " . ::key('full')
--- error_code: 200
--- response_body eval
::clean('GET', '/kb/x')



=== TEST 25: an unknown value names the form of a custom header
--- config
    location /api/ { apikey on; apikey_headers bearer x-api-key; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "x-api-key" in "apikey_headers" directive, it must be "bearer" or "x-secret-key" or "header:<name>"
