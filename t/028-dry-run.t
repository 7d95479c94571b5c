# apikey_dry_run (docs/directives.md, docs/decision.md): every refusal is
# decided, counted and logged as usual, and the request goes on to the
# content handler; no rate-limit header tells the client anything; the
# status counts would-be refusals apart; subrequests, internal redirects
# and "satisfy any" follow the location that decides.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
no_shuffle();

our $BACKEND = 'http://127.0.0.1:$TEST_NGINX_SERVER_PORT';

# the module on in each location, dry run on for the server; /enforced/
# switches it off
our $DRY = <<'_EOC_';
    apikey_dry_run on;
    add_header X-Apikey-Status $apikey_status always;
    add_header X-Left $apikey_rate_remaining always;

    location /api/ {
        apikey on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /orders/ {
        apikey on;
        apikey_resource orders;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /enforced/ {
        apikey on;
        apikey_dry_run off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
_EOC_

our $T = 1900006800;            # 40 minutes into an hour
our $HOUR = int($T / 3600);

# a key with an hourly limit of 3, and one of 10 for the cluster scope
our $Q = ApikeyTest::make_key("DrYrUnQuOtA000000000000000000041");
our $K10 = ApikeyTest::make_key("DrYrUnTeN0000000000000000000042");
our $INIT = q{
    ApikeyTest::seed(keys => [
        [$::Q, id => 'k-dry-quota', access => 'full', limit => '3'],
        [$::K10, id => 'k-dry-10', access => 'full', limit => '10']]);
};

# a key with a per-second window, for TEST 22
our $S2 = ApikeyTest::make_key("DrYrUnSeCoNd00000000000000000043");

sub k { "X-Secret-Key: $ApikeyTest::KEY{$_[0]}" }
sub s2 { "X-Secret-Key: $::S2\nX-Apikey-Test-Now: $_[0]" }
sub q { "X-Secret-Key: $::Q\nX-Apikey-Test-Now: $::T" }

# the backend's answer when the key header was removed, as it must be
sub stripped { "backend $_[0] /backend/x x-secret-key=[] authorization=[]\n" }

# "taapit_AbCd...WxYz", as $apikey_masked shows a key with apikey_prefix
sub masked {
    my $rest = substr($ApikeyTest::KEY{$_[0]}, 7);
    return 'taapit_' . substr($rest, 0, 4) . '...' . substr($rest, -4);
}

# every decision count of the status, "ok" first
sub counts {
    my (@n) = @_;
    my @kinds = qw(ok missing invalid expired ip forbidden limited
                   unavailable);
    shift @kinds if @n == 7;
    return join ',', map { "\"$kinds[$_]\":$n[$_]" } 0 .. $#n;
}

run_tests();

__DATA__

=== TEST 1: every refusal goes on to the content handler, its kind in $apikey_status
--- config eval: $::DRY
--- request eval
["GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x",
 "GET /api/x", "GET /api/x", "POST /api/x", "GET /api/x", "POST /orders/x",
 "GET /api/x"]
--- more_headers eval
["", "X-Secret-Key: not!a!key",
 "X-Secret-Key: " . ApikeyTest::make_key("NoSuChKeY0000000000000000000099"),
 ::k('full') . "\n" . ::k('full'), ::k('inactive'), ::k('expired'),
 ::k('ipdeny'), ::k('read'), ::k('read') . "\nX-HTTP-Method-Override: DELETE",
 ::k('limited'), "Authorization: Bearer $ApikeyTest::KEY{full}"]
--- error_code eval
[(200) x 11]
--- response_body eval
[(::stripped('GET')) x 7, ::stripped('POST'), ::stripped('GET'),
 ::stripped('POST'), ::stripped('GET')]
--- response_headers eval
[map { "X-Apikey-Status: $_\n!WWW-Authenticate\n!Retry-After\n!X-RateLimit-Limit" }
 qw(missing invalid invalid invalid invalid expired ip forbidden forbidden
    forbidden ok)]



=== TEST 2: over the limit: let through, counted, no rate-limit header; enforced after
--- init eval: $::INIT
--- config eval: $::DRY
--- request eval
["GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x",
 "GET /enforced/x",
 "GET /ctl/sleep?sleep=1.5",
 "GET /ctl/redis?a=GET&a=apikey:usage:k-dry-quota:$::HOUR"]
--- more_headers eval
[(::q()) x 6, "", ""]
--- error_code eval
[200, 200, 200, 200, 200, 429, 200, 200]
--- response_headers eval
[(map { "X-Apikey-Status: $_->[0]\nX-Left: $_->[1]\n!Retry-After\n!X-RateLimit-Limit\n!X-RateLimit-Remaining\n!X-RateLimit-Reset" }
  ["ok", 2], ["ok", 1], ["ok", 0], ["limited", 0], ["limited", 0]),
 "X-Apikey-Status: limited\nX-RateLimit-Limit: 3\nX-RateLimit-Remaining: 0\nRetry-After: 1200",
 "", ""]
--- response_body eval
[(::stripped('GET')) x 5, '{"detail":"Rate limit exceeded"}', "slept\n", "5\n"]



=== TEST 3: a mirror never loaded: dry run lets the request through as well
--- init: 1
--- http_config
    # a zone of its own, never loaded (see t/002-decision.t)
    apikey_zone unsynced:4m;
    apikey_redis 127.0.0.1:1;
--- config eval: $::DRY
--- request eval
["GET /api/x", "GET /enforced/x"]
--- more_headers eval
[::k('full'), ::k('full')]
--- error_code eval
[200, 503]
--- response_headers eval
["X-Apikey-Status: unavailable", "X-Apikey-Status: unavailable"]
--- response_body eval
[::stripped('GET'), '{"detail":"Authentication unavailable"}']



=== TEST 4: the status counts refusals let through apart from refusals sent
--- http_config
    # a zone of its own: no count from the blocks before
    apikey_zone drycount:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config eval: $::DRY
--- request eval
["GET /api/x", "GET /api/x", "GET /api/x", "POST /api/x", "GET /api/x",
 "GET /api/x", "GET /enforced/x", "GET /enforced/x", "GET /enforced/x",
 "GET /status", "GET /status?format=prometheus"]
--- more_headers eval
["", ::k('expired'), ::k('ipdeny'), ::k('read'), ::k('full'), "",
 "", ::k('expired'), ::k('full'), "", ""]
--- error_code eval
[200, 200, 200, 200, 200, 200, 401, 401, 200, 200, 200]
--- response_body_like eval
[("") x 9,
 qr/"decisions":\{${\ ::counts(2, 1, 0, 1, 0, 0, 0, 0)}\},"dry_run":\{${\ ::counts(2, 0, 1, 1, 1, 0, 0)}\},"version":"[0-9.]+"\}\n$/,
 qr/# TYPE apikey_decisions_total counter\n(?s:.*)apikey_decisions_total\{zone="drycount",decision="missing"\} 1\n(?s:.*)# HELP apikey_dry_run_refusals_total Refusals let through by apikey_dry_run, by outcome\.\n# TYPE apikey_dry_run_refusals_total counter\napikey_dry_run_refusals_total\{zone="drycount",decision="missing"\} 2\napikey_dry_run_refusals_total\{zone="drycount",decision="invalid"\} 0\napikey_dry_run_refusals_total\{zone="drycount",decision="expired"\} 1\napikey_dry_run_refusals_total\{zone="drycount",decision="ip"\} 1\napikey_dry_run_refusals_total\{zone="drycount",decision="forbidden"\} 1\napikey_dry_run_refusals_total\{zone="drycount",decision="limited"\} 0\napikey_dry_run_refusals_total\{zone="drycount",decision="unavailable"\} 0\n$/]



=== TEST 5: the error log line of a refusal let through says "dry run"
--- log_level: info
--- config eval: "    apikey_prefix taapit_;\n" . $::DRY
--- more_headers eval
::k('expired')
--- request
GET /api/x
--- error_code: 200
--- error_log eval
qr/\[info\] .*apikey: refusing request, dry run: expired \(401\), key "\Q${\ ::masked('expired')}\E", id "k-expired", client: /
--- no_error_log eval
[$ApikeyTest::KEY{expired}, "exited on signal"]



=== TEST 6: the same refusal, sent, has the same line without "dry run"
--- log_level: info
--- config eval: "    apikey_prefix taapit_;\n" . $::DRY
--- more_headers eval
::k('expired')
--- request
GET /enforced/x
--- error_code: 401
--- error_log eval
qr/\[info\] .*apikey: refusing request: expired \(401\), key "\Q${\ ::masked('expired')}\E", id "k-expired", client: /
--- no_error_log eval
["dry run", $ApikeyTest::KEY{expired}, "exited on signal"]



=== TEST 7: every kind of refusal let through has its line
--- log_level: info
--- init eval: $::INIT
--- config eval: "    apikey_prefix taapit_;\n" . $::DRY . $ApikeyTest::ERRLOG
--- request eval
["GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x", "POST /api/x",
 "GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x",
 ApikeyTest::wait_url('/errlog', 'refusing request, dry run: missing \(401\), client: ', 5),
 ApikeyTest::wait_url('/errlog', 'refusing request, dry run: invalid \(401\), client: ', 5),
 ApikeyTest::wait_url('/errlog', 'refusing request, dry run: invalid \(401\), key "taapit_InAc\.\.\.\w{4}", id "k-inactive", client: ', 5),
 ApikeyTest::wait_url('/errlog', 'refusing request, dry run: ip \(403\), key "taapit_IpDe\.\.\.\w{4}", id "k-ipdeny", client: ', 5),
 ApikeyTest::wait_url('/errlog', 'refusing request, dry run: forbidden \(403\), key "taapit_ReaD\.\.\.\w{4}", id "k-read", client: ', 5),
 ApikeyTest::wait_url('/errlog', 'refusing request, dry run: limited \(429\), key "taapit_DrYr\.\.\.\w{4}", id "k-dry-quota", client: ', 5)]
--- more_headers eval
["", "X-Secret-Key: not!a!key", ::k('inactive'), ::k('ipdeny'), ::k('read'),
 (::q()) x 4, "", "", "", "", "", ""]
--- error_code eval
[(200) x 15]
--- response_body_like eval
[("") x 9, ("^matched\$") x 6]



=== TEST 8: apikey_dry_run off in a location enforces there, whatever the server says
--- config eval: $::DRY
--- request eval
["GET /api/x", "GET /enforced/x", "POST /api/x", "POST /enforced/x"]
--- more_headers eval
["", "", ::k('read'), ::k('read')]
--- error_code eval
[200, 401, 200, 403]
--- response_headers eval
["X-Apikey-Status: missing\n!WWW-Authenticate",
 "X-Apikey-Status: missing\nWWW-Authenticate: Bearer",
 "X-Apikey-Status: forbidden", "X-Apikey-Status: forbidden"]
--- response_body eval
[::stripped('GET'), '{"detail":"Missing API key"}', ::stripped('POST'),
 '{"detail":"API key lacks permission for this operation"}']



=== TEST 9: apikey_pass_key still keeps the key, and only it
--- config eval
qq{
    location /api/ {
        apikey on;
        apikey_dry_run on;
        apikey_pass_key on;
        proxy_pass $::BACKEND/backend/;
    }
}
--- request eval
["GET /api/x", "POST /api/x"]
--- more_headers eval
[::k('expired'), ::k('read')]
--- error_code eval
[200, 200]
--- response_body eval
["backend GET /backend/x x-secret-key=[$ApikeyTest::KEY{expired}] authorization=[]\n",
 "backend POST /backend/x x-secret-key=[$ApikeyTest::KEY{read}] authorization=[]\n"]



=== TEST 10: auth_request and SSI into a dry-run location: let through, decided
--- config eval
qq{
    location /app/ {
        auth_request /auth;
        add_header X-Apikey-Status \$apikey_status always;
        proxy_pass $::BACKEND/backend/;
    }
    location = /auth {
        internal;
        apikey on;
        apikey_dry_run on;
        proxy_pass $::BACKEND/backend/auth;
    }
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
        apikey_dry_run on;
        apikey_resource users;
        proxy_pass $::BACKEND/backend/;
    }
}
--- request eval
["GET /app/x", "POST /app/x", "POST /app/x", "GET /page.html", "GET /page.html"]
--- more_headers eval
["", ::k('read'), ::k('full'), "", ::k('limited')]
--- error_code eval
[200, 200, 200, 200, 200]
--- response_headers eval
["X-Apikey-Status: missing", "X-Apikey-Status: forbidden", "X-Apikey-Status: ok", "", ""]
--- response_body eval
[::stripped('GET'), ::stripped('POST'), ::stripped('POST'),
 "A" . ::stripped('GET') . "B", "A" . ::stripped('GET') . "B"]



=== TEST 11: a redirect into an enforcing location enforces; counted once, as its last decision
--- init eval: $::INIT
--- http_config
    apikey_zone dryredir:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config eval
qq{
    apikey_dry_run on;
    add_header X-Apikey-Status \$apikey_status always;

    location /php/ {
        apikey on;
        try_files \$uri \@app;
    }
    location \@app {
        apikey on;
        apikey_dry_run off;
        rewrite ^ /backend/x break;
        proxy_pass $::BACKEND;
    }
}
--- request eval
["GET /php/x", "GET /php/x", "GET /php/x", "GET /php/x", "GET /php/x",
 "GET /status"]
--- more_headers eval
["", (::q()) x 4, ""]
--- error_code eval
[401, 200, 200, 200, 429, 200]
--- response_headers eval
["X-Apikey-Status: missing", "X-RateLimit-Remaining: 2",
 "X-RateLimit-Remaining: 1", "X-RateLimit-Remaining: 0",
 "X-Apikey-Status: limited\nRetry-After: 1200", ""]
--- response_body_like eval
['^\{"detail":"Missing API key"\}$', ("^backend GET") x 3,
 '^\{"detail":"Rate limit exceeded"\}$',
 qr/"decisions":\{${\ ::counts(3, 1, 0, 0, 0, 0, 1, 0)}\},"dry_run":\{${\ ::counts(0, 0, 0, 0, 0, 0, 0)}\}/]



=== TEST 12: satisfy any: dry run has no say, the other modules decide
--- config eval
qq{
    location /sa/ {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        apikey on;
        apikey_dry_run on;
        add_header X-Apikey-Status \$apikey_status always;
        proxy_pass $::BACKEND/backend/;
    }
    location /sb/ {
        satisfy any;
        deny all;
        apikey on;
        apikey_dry_run on;
        add_header X-Apikey-Status \$apikey_status always;
        proxy_pass $::BACKEND/backend/;
    }
}
--- request eval
["GET /sa/x", "GET /sb/x", "GET /sb/x", "POST /sb/x"]
--- more_headers eval
["", "", ::k('full'), ::k('read')]
--- error_code eval
[200, 403, 200, 403]
--- response_headers eval
["X-Apikey-Status: missing", "Content-Type: text/html\n!WWW-Authenticate",
 "X-Apikey-Status: ok", "Content-Type: text/html"]
--- response_body_like eval
['^backend GET', '403 Forbidden', '^backend GET', '403 Forbidden']



=== TEST 13: satisfy any: the line is logged when no other module allows
--- log_level: info
--- config eval
qq{
    location /sb/ {
        satisfy any;
        deny all;
        apikey on;
        apikey_dry_run on;
        proxy_pass $::BACKEND/backend/;
    }
}
--- request
GET /sb/x
--- error_code: 403
--- error_log
apikey: refusing request, dry run: missing (401), client:
access forbidden by rule



=== TEST 14: satisfy any: no line when another module allows
--- log_level: info
--- config eval
qq{
    location /sa/ {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        apikey on;
        apikey_dry_run on;
        proxy_pass $::BACKEND/backend/;
    }
}
--- request
GET /sa/x
--- error_code: 200
--- no_error_log
refusing request
exited on signal



=== TEST 15: the access log shows what the decision would have been
--- http_config eval
$ApikeyTest::HTTP_CONFIG . q{
    log_format dry "dry $apikey_status $apikey_id $status K[$http_x_secret_key]";
}
--- config eval
qq{
    location /api/ {
        apikey on;
        apikey_dry_run on;
        access_log logs/access.log dry;
        proxy_pass $::BACKEND/backend/;
    }
}
--- request eval
["GET /api/x", "GET /api/x", "POST /api/x"]
--- more_headers eval
["", ::k('expired'), ::k('read')]
--- error_code eval
[200, 200, 200]
--- access_log eval
qr/^dry (missing -|expired k-expired|forbidden k-read) 200 K\[-\]$/



=== TEST 16: cluster scope: no request waits for a grant, every one is counted
--- timeout: 30
--- init eval: $::INIT
--- http_config
    apikey_zone drycluster:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    apikey_rate_limit_scope cluster;
--- config eval: $::DRY
--- request eval
["GET /ctl/hammer?n=30&c=8&path=/api/x&key=$::K10",
 "GET /ctl/sleep?sleep=0.5",
 "GET /ctl/hammer?n=30&c=8&path=/api/x&key=$::K10",
 "GET /ctl/sleep?sleep=0.5",
 "GET /status",
 "GET /ctl/redis?a=GET&a=apikey:usage:k-dry-10:" . int(time() / 3600),
 "GET /enforced/x"]
--- more_headers eval
[("") x 6, "X-Secret-Key: $::K10"]
--- error_code eval
[200, 200, 200, 200, 200, 200, 429]
--- response_body_like eval
['^200=30$', "slept", '^200=30$', "slept",
 qr/"waits":0,.*"decisions":\{"ok":(1\d|2\d|30),(?:"\w+":0,){6}"unavailable":0\},"dry_run":\{(?:"\w+":0,){5}"limited":(30|[3-5]\d),"unavailable":0\}/,
 '^60$', 'Rate limit exceeded']



=== TEST 17: apikey_dry_run takes on or off
--- config
    location /api/ {
        apikey on;
        apikey_dry_run maybe;
        proxy_pass http://127.0.0.1:1/;
    }
--- must_die
--- error_log
invalid value "maybe" in "apikey_dry_run" directive, it must be "on" or "off"



=== TEST 18: apikey_dry_run takes one argument
--- config
    location /api/ {
        apikey on;
        apikey_dry_run on off;
        proxy_pass http://127.0.0.1:1/;
    }
--- must_die
--- error_log
invalid number of arguments in "apikey_dry_run" directive



=== TEST 19: apikey_dry_run once per level
--- config
    location /api/ {
        apikey on;
        apikey_dry_run on;
        apikey_dry_run off;
        proxy_pass http://127.0.0.1:1/;
    }
--- must_die
--- error_log
"apikey_dry_run" directive is duplicate



=== TEST 20: a redirect's line and $apikey_masked show only the key this pass read
--- log_level: info
--- config eval
qq{
    location /php/ {
        apikey on;
        apikey_dry_run on;
        apikey_headers x-secret-key;
        apikey_prefix taapit_;
        try_files \$uri \@app;
    }
    location \@app {
        apikey on;
        apikey_headers bearer;
        apikey_prefix taapit_;
        add_header X-Masked "[\$apikey_masked]" always;
        rewrite ^ /backend/x break;
        proxy_pass $::BACKEND;
    }
} . $ApikeyTest::ERRLOG
--- request eval
["GET /php/x", "GET /php/x",
 ApikeyTest::wait_url('/errlog', 'refusing request: invalid \(401\)', 5),
 ApikeyTest::wait_url('/errlog', 'refusing request: missing \(401\), client: ', 5)]
--- more_headers eval
[::k('full') . "\nAuthorization: Bearer taapit_NotAValidKey!0123456789abcdef",
 ::k('full'), "", ""]
--- error_code eval
[401, 401, 200, 200]
--- response_headers eval
["X-Masked: []", "X-Masked: []", "", ""]
--- response_body_like eval
['Invalid API key', 'Missing API key', '^matched$', '^matched$']
--- no_error_log eval
['key "', 'NotAValidKey', "exited on signal"]



=== TEST 21: a subrequest's refusal let through has its line too
--- log_level: info
--- config eval
qq{
    location /app/ {
        auth_request /auth;
        proxy_pass $::BACKEND/backend/;
    }
    location = /auth {
        internal;
        apikey on;
        apikey_dry_run on;
        proxy_pass $::BACKEND/backend/auth;
    }
}
--- more_headers eval
::k('read')
--- request
POST /app/x
--- error_code: 200
--- error_log
apikey: refusing request, dry run: forbidden (403), key "taap...
id "k-read", client:
--- no_error_log eval
[$ApikeyTest::KEY{read}, "exited on signal"]



=== TEST 22: a per-second window: let through and counted; the bucket stays empty
Four requests in one millisecond with 2/s: two ok, two limited, all let
through; an enforcing location then finds no token in that millisecond,
and one half a second later (a request let through with no token must not
have made the bucket wrap around to full).
--- init
ApikeyTest::seed(keys => [
    [$::S2, id => 'k-dry-second', access => 'full', limit => '2/s 100/h']]);
--- config eval: $::DRY
--- request eval
[("GET /api/x") x 4, "GET /enforced/x", "GET /enforced/x"]
--- more_headers eval
[(::s2("$::T.000")) x 5, ::s2("$::T.500")]
--- error_code eval
[200, 200, 200, 200, 429, 200]
--- response_headers eval
[(map { "X-Apikey-Status: $_\n!Retry-After" } qw(ok ok limited limited)),
 "X-Apikey-Status: limited", "X-Apikey-Status: ok"]
