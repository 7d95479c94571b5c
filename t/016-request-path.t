# The decision as nginx's own access modules make it: once per client
# request across internal redirects, for subrequests too, with "satisfy
# any", and with the key kept out of the upstream and the logs whatever the
# outcome (docs/decision.md).
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;
use IO::Socket::INET;

apikey_setup();
no_shuffle();

our $BACKEND = 'http://127.0.0.1:$TEST_NGINX_SERVER_PORT';

# a key of its own with an hourly limit of 3, for the blocks that count
our $Q = ApikeyTest::make_key("ReDiReCtQuOtA0000000000000000031");
our @QREC = ($Q, id => 'k-redirect-quota', access => 'full', limit => '3');

sub h { my ($k) = @_; return "X-Secret-Key: $ApikeyTest::KEY{$k}" }

# records of keys nobody holds, written and announced one by one, as
# apikeyctl would: ARGV[1] to ARGV[2]
our $FILL = q{
    for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do
        local d = string.format('%064x', i)
        redis.call('HSET', 'apikey:key:' .. d, 'id', 'fill-' .. i,
                   'access', 'full', 'name', 'filler')
        redis.call('PUBLISH', 'apikey:events', d)
    end
    return 1
};

# the status counter of events applied
sub events_applied {
    my $port = $ENV{TEST_NGINX_SERVER_PORT} || 1984;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 2) or return -1;
    $s->print("GET /status HTTP/1.0\r\nHost: localhost\r\n\r\n");
    local $/;
    my $resp = <$s> // '';
    return $resp =~ /"events_applied":(\d+)/ ? $1 : -1;
}

# waits until the events applied reach n (or 20 s)
sub wait_events {
    my ($n) = @_;
    my $deadline = time + 20;
    select(undef, undef, undef, 0.05) until events_applied() >= $n
                                            || time > $deadline;
}

# fills the zone, then renames the full key and gives it grants (unused by
# a full key) that make its record need a page of its own
sub fill_and_rename {
    ApikeyTest::seed();
    my $start = events_applied();
    ApikeyTest::redis('EVAL', $FILL, 0, 1, 4000);
    wait_events($start + 4000);
    my $d = ApikeyTest::digest($ApikeyTest::KEY{full});
    ApikeyTest::redis('HSET', "apikey:key:$d", 'name', 'renamed',
                      'grants', join(' ', map { "resource$_:r" } 1 .. 250));
    ApikeyTest::redis('PUBLISH', 'apikey:events', $d);
    wait_events($start + 4001);

    # logged while the init ran, before the block's requests: read here
    open my $log, '<', $Test::Nginx::Util::ErrLogFile or die "error.log: $!";
    my @hit = grep { /apikey zone "fullz" is full: key "k-full" keeps its old record until the new one fits/ } <$log>;
    Test::More::ok(scalar @hit, "the error log names the zone and the key");
    return 1;
}

run_tests();

__DATA__

=== TEST 1: refusals remove the key header too: 403 and 401 log no key
--- http_config eval
$ApikeyTest::HTTP_CONFIG . q{
    log_format keys "K[$http_x_secret_key][$http_authorization] $status";
}
--- config eval
qq{
    location /api/ {
        apikey on;
        access_log logs/access.log keys;
        proxy_pass $::BACKEND/backend/;
    }
}
--- request eval
["POST /api/x", "POST /api/x", "GET /api/x"]
--- more_headers eval
[::h('read'), "Authorization: Bearer $ApikeyTest::KEY{read}", ::h('expired')]
--- error_code eval
[403, 403, 401]
--- access_log eval
qr/^K\[-\]\[-\] 40[13]$/
--- no_access_log eval
[$ApikeyTest::KEY{read}, $ApikeyTest::KEY{expired}]



=== TEST 2: a 429 logs no key either
--- init
ApikeyTest::seed(keys => [[@::QREC]]);
--- http_config eval
$ApikeyTest::HTTP_CONFIG . q{
    log_format keys "K[$http_x_secret_key] $status";
}
--- config eval
qq{
    location /api/ {
        apikey on;
        access_log logs/access.log keys;
        proxy_pass $::BACKEND/backend/;
    }
}
--- request eval
["GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x"]
--- more_headers eval
[("X-Secret-Key: $::Q\nX-Apikey-Test-Now: 1800000000") x 4]
--- error_code eval
[200, 200, 200, 429]
--- access_log eval
qr/^K\[-\] (200|429)$/
--- no_access_log eval
$::Q



=== TEST 3: nginx's debug "http script var" lines do not show the key
--- config eval
qq{
    location /api/ {
        set \$k \$http_x_secret_key;
        apikey on;
        proxy_pass $::BACKEND/backend/;
    }
}
--- more_headers eval
::h('read')
--- request
POST /api/x
--- error_code: 403
--- error_log
http script var:
--- no_error_log eval
[$ApikeyTest::KEY{read}, "exited on signal"]



=== TEST 4: auth_request to a guarded location decides the request
--- config eval
qq{
    location /app/ {
        auth_request /auth;
        proxy_pass $::BACKEND/backend/;
    }
    location = /auth {
        internal;
        apikey on;
        proxy_pass $::BACKEND/backend/auth;
    }
}
--- request eval
["GET /app/x", "GET /app/x", "POST /app/x", "GET /app/x", "POST /app/x"]
--- more_headers eval
["", ::h('read'), ::h('read'), "X-Secret-Key: " . ApikeyTest::make_key("NoSuChKeY0000000000000000000099"), ::h('full')]
--- error_code eval
[401, 200, 403, 401, 200]
--- response_body_like eval
[qr/401/, qr/^backend GET \/backend\/x x-secret-key=\[\] authorization=\[\]$/, qr/403/, qr/401/,
 qr/^backend POST \/backend\/x x-secret-key=\[\] authorization=\[\]$/]



=== TEST 5: an SSI include of a guarded location is decided, not served
--- config eval
qq{
    location = /page.html {
        ssi on;
        default_type text/html;
        proxy_pass $::BACKEND/ssi-page;
    }
    location = /ssi-page {
        apikey off;
        default_type text/html;
        return 200 'A<!--# include virtual="/inc/x" -->B';
    }
    location /inc/ {
        apikey on;
        apikey_resource users;
        proxy_pass $::BACKEND/backend/;
    }
}
--- request eval
["GET /page.html", "GET /page.html", "GET /page.html"]
--- more_headers eval
["", ::h('full'), ::h('limited')]
--- error_code eval
[200, 200, 200]
--- response_body eval
['A{"detail":"Missing API key"}B',
 "Abackend GET /backend/x x-secret-key=[] authorization=[]\nB",
 'A{"detail":"API key lacks permission for this operation"}B']



=== TEST 6: try_files into a named location: the key of the first pass
--- init
ApikeyTest::seed(keys => [[@::QREC]]);
--- config eval
qq{
    apikey on;
    add_header X-Apikey-Status \$apikey_status always;

    location /php/ {
        apikey_resource billing;
        try_files \$uri \@app;
    }
    location \@app {
        apikey_resource orders;
        rewrite ^ /backend/app break;
        proxy_pass $::BACKEND;
    }
}
--- request eval
["GET /php/x", "GET /php/x", "POST /php/x", "GET /php/x", "GET /php/x"]
--- more_headers eval
[::h('full'), ::h('limited'), ::h('limited'), ::h('read'), ""]
--- error_code eval
[200, 200, 403, 200, 401]
--- response_headers eval
["X-Apikey-Status: ok", "X-Apikey-Status: ok", "X-Apikey-Status: forbidden",
 "X-Apikey-Status: ok", "X-Apikey-Status: missing"]
--- response_body_like eval
[qr/^backend GET \/backend\/app x-secret-key=\[\] authorization=\[\]$/,
 qr/^backend GET/, qr/lacks permission/, qr/^backend GET/, qr/Missing API key/]



=== TEST 7: a redirected request is counted once
--- init
ApikeyTest::seed(keys => [[@::QREC]]);
--- config eval
qq{
    apikey on;

    location /php/ {
        try_files \$uri \@app;
    }
    location \@app {
        rewrite ^ /backend/app break;
        proxy_pass $::BACKEND;
    }
}
--- request eval
["GET /php/a", "GET /php/a", "GET /php/a", "GET /php/a"]
--- more_headers eval
[("X-Secret-Key: $::Q\nX-Apikey-Test-Now: 1800007200") x 4]
--- error_code eval
[200, 200, 200, 429]
--- response_headers eval
["X-RateLimit-Remaining: 2", "X-RateLimit-Remaining: 1",
 "X-RateLimit-Remaining: 0", "X-RateLimit-Remaining: 0"]



=== TEST 8: error_page into a named location, X-Accel-Redirect into a guarded one
--- config eval
qq{
    apikey on;

    location /ep/ {
        error_page 404 = \@app;
    }
    location \@app {
        rewrite ^ /backend/app break;
        proxy_pass $::BACKEND;
    }
    location /xa/ {
        apikey_resource orders;
        proxy_pass $::BACKEND/accel/;
    }
    location /accel/ {
        apikey off;
        add_header X-Accel-Redirect /prot/x;
        return 200;
    }
    location /prot/ {
        internal;
        apikey_resource orders;
        proxy_pass $::BACKEND/backend/;
    }
}
--- request eval
["GET /ep/x", "GET /xa/x", "GET /xa/x", "GET /xa/x"]
--- more_headers eval
[::h('full'), ::h('full'), ::h('limited'), "Authorization: Bearer $ApikeyTest::KEY{ipallow}"]
--- error_code eval
[200, 200, 200, 200]
--- response_body eval
["backend GET /backend/app x-secret-key=[] authorization=[]\n",
 "backend GET /backend/x x-secret-key=[] authorization=[]\n",
 "backend GET /backend/x x-secret-key=[] authorization=[]\n",
 "backend GET /backend/x x-secret-key=[] authorization=[]\n"]



=== TEST 9: a redirect applies the new location's apikey_headers
--- config eval
qq{
    apikey on;

    location /php/ {
        try_files \$uri \@app;
    }
    location \@app {
        apikey_headers bearer;
        rewrite ^ /backend/app break;
        proxy_pass $::BACKEND;
    }
}
--- request eval
["GET /php/x", "GET /php/x"]
--- more_headers eval
[::h('full'), "Authorization: Bearer $ApikeyTest::KEY{full}"]
--- error_code eval
[401, 200]
--- response_body eval
['{"detail":"Missing API key"}',
 "backend GET /backend/app x-secret-key=[] authorization=[]\n"]



=== TEST 10: satisfy any: an allowed address needs no key; a refused one gets the key's answer
--- config eval
qq{
    location /sa/ {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        apikey on;
        proxy_pass $::BACKEND/backend/;
    }
    location /sb/ {
        satisfy any;
        deny all;
        apikey on;
        proxy_pass $::BACKEND/backend/;
    }
}
--- request eval
["GET /sa/x", "GET /sb/x", "GET /sb/x", "POST /sb/x", "GET /sa/x"]
--- more_headers eval
["", "", ::h('full'), ::h('read'), ::h('read')]
--- error_code eval
[200, 401, 200, 403, 200]
--- response_body eval
["backend GET /backend/x x-secret-key=[] authorization=[]\n",
 '{"detail":"Missing API key"}',
 "backend GET /backend/x x-secret-key=[] authorization=[]\n",
 '{"detail":"API key lacks permission for this operation"}',
 "backend GET /backend/x x-secret-key=[] authorization=[]\n"]



=== TEST 11: satisfy any with auth_basic: either a password or a key
--- user_files
>>> htpasswd
u:{PLAIN}secret
--- config eval
qq{
    location /sc/ {
        satisfy any;
        auth_basic "api";
        auth_basic_user_file ../html/htpasswd;
        apikey on;
        apikey_headers x-secret-key;
        proxy_pass $::BACKEND/backend/;
    }
}
--- request eval
["GET /sc/x", "GET /sc/x", "GET /sc/x", "GET /sc/x"]
--- more_headers eval
["Authorization: Basic dTpzZWNyZXQ=", "Authorization: Basic dTp3cm9uZw==", ::h('full'), ""]
--- error_code eval
[200, 401, 200, 401]
--- response_body_like eval
[qr/^backend GET \/backend\/x x-secret-key=\[\] authorization=\[Basic dTpzZWNyZXQ=\]$/,
 qr/^\{"detail":"Missing API key"\}$/,
 qr/^backend GET \/backend\/x x-secret-key=\[\] authorization=\[\]$/,
 qr/^\{"detail":"Missing API key"\}$/]
--- raw_response_headers_like eval
[qr/^/, qr/WWW-Authenticate: Basic realm="api"/, qr/^/, qr/WWW-Authenticate: Basic realm="api"/]



=== TEST 12: method override headers: a read key may not name a write
--- config eval
qq{
    location /api/ {
        apikey on;
        proxy_pass $::BACKEND/backend/;
    }
    location /orders/ {
        apikey on;
        apikey_resource orders;
        proxy_pass $::BACKEND/backend/;
    }
    location /billing/ {
        apikey on;
        apikey_resource billing;
        proxy_pass $::BACKEND/backend/;
    }
}
--- request eval
["GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x",
 "GET /api/x", "GET /orders/1", "GET /billing/1", "GET /orders/1"]
--- more_headers eval
[::h('read') . "\nX-HTTP-Method-Override: DELETE",
 ::h('read') . "\nX-HTTP-Method: post",
 ::h('read') . "\nX-Method-Override: PUT",
 ::h('read') . "\nX-HTTP-Method-Override: GET",
 ::h('full') . "\nX-HTTP-Method-Override: DELETE",
 ::h('read') . "\nX-HTTP-Method-Override: head",
 ::h('limited') . "\nX-HTTP-Method-Override: PATCH",
 ::h('limited') . "\nX-HTTP-Method-Override: PATCH",
 ::h('limited') . "\nX-HTTP-Method-Override: OPTIONS"]
--- error_code eval
[403, 403, 403, 200, 200, 200, 403, 200, 200]



=== TEST 13: a tab before the key is skipped as a space is
--- config eval
qq{
    location /api/ {
        apikey on;
        proxy_pass $::BACKEND/backend/;
    }
}
--- raw_request eval
["GET /api/x HTTP/1.0\r\nHost: localhost\r\nX-Secret-Key:\t$ApikeyTest::KEY{full}\r\n\r\n",
 "GET /api/x HTTP/1.0\r\nHost: localhost\r\nAuthorization: \tBearer $ApikeyTest::KEY{full}\t\r\n\r\n",
 "GET /api/x HTTP/1.0\r\nHost: localhost\r\nX-Secret-Key: \t $ApikeyTest::KEY{full} \t\r\n\r\n"]
--- error_code eval
[200, 200, 200]



=== TEST 14: a key under a near-miss header name stays out of the info log
--- config eval
qq{
    location /api/ {
        apikey on;
        proxy_pass $::BACKEND/backend/;
    }
}
--- raw_request eval
"GET /api/x HTTP/1.0\r\nHost: localhost\r\nX_Secret_Key: $ApikeyTest::KEY{full}\r\n\r\n"
--- error_code: 401
--- log_level: info
--- error_log
client sent invalid header line: "X_Secret_Key: [hidden]"
--- no_error_log eval
$ApikeyTest::KEY{full}



=== TEST 15: a key in a duplicate header stays out of the info log
--- config eval
qq{
    location /api/ {
        apikey on;
        proxy_pass $::BACKEND/backend/;
    }
}
--- raw_request eval
"GET /api/x HTTP/1.0\r\nHost: localhost\r\nHost: $ApikeyTest::KEY{read}\r\n\r\n"
--- error_code: 400
--- log_level: info
--- error_log
client sent duplicate host header: "Host: [hidden]"
--- no_error_log eval
$ApikeyTest::KEY{read}



=== TEST 16: the safe pattern for path parameters: what is checked is what is sent
--- config eval
qq{
    location ~ ";" {
        return 400;
    }
    location /orders/ {
        apikey on;
        apikey_resource orders;
        proxy_pass $::BACKEND/raw/orders/;
    }
    location /admin/ {
        apikey on;
        apikey_resource admin;
        proxy_pass $::BACKEND/raw/admin/;
    }
    location /raw/ {
        apikey off;
        return 200 "raw \$request_uri\n";
    }
}
--- request eval
["GET /orders/..;/admin", "GET /orders/..%3B/admin", "GET /orders/%2e%2e/admin/x",
 "GET /orders/x%2F..%2F..%2Fadmin/x", "GET /orders/1", "GET /orders/a/./b//c"]
--- more_headers eval
[(::h('limited')) x 6]
--- error_code eval
[400, 400, 403, 403, 200, 200]
--- response_body_like eval
[qr/400/, qr/400/, qr/lacks permission/, qr/lacks permission/,
 qr{^raw /raw/orders/1$}, qr{^raw /raw/orders/a/b/c$}]



=== TEST 17: a full zone keeps a renamed key's old record, and says so
--- http_config
    apikey_zone fullz:256k;
    apikey_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- init
::fill_and_rename();
--- config eval
qq{
    location /api/ {
        apikey on;
        add_header X-Apikey-Name \$apikey_name always;
        proxy_pass $::BACKEND/backend/;
    }
}
--- request eval
["GET /api/x", "GET /status"]
--- more_headers eval
[::h('full'), ""]
--- error_code eval
[200, 200]
--- response_headers eval
["X-Apikey-Name: Full key", ""]
--- response_body_like eval
[qr/^backend GET/, qr/"zone_full_updates":[1-9]/]
--- timeout: 30



=== TEST 18: two Authorization headers (Bearer, Basic) stay invalid across an error_page redirect
--- config eval
qq{
    location /ret/ {
        error_page 404 = \@api;
        return 404;
    }
    location \@api {
        apikey on;
        rewrite ^ /backend/app break;
        proxy_pass $::BACKEND;
    }
}
--- request
GET /ret/x
--- more_headers eval
"Authorization: Bearer $ApikeyTest::KEY{full}\nAuthorization: Basic dTpzZWNyZXQ="
--- error_code: 401
--- response_body chomp
{"detail":"Invalid API key"}
