# The same guarded requests over HTTP/2 (cleartext, prior knowledge):
# nginx hands the module HTTP/2's headers (lowercase names, HPACK-decoded
# values) through the same list, and the answers must not change.  A
# second server listens with http2 on TEST_NGINX_SERVER_PORT2; curl is
# the client.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
no_shuffle();

our $H2 = <<'_EOC_';
    server {
        listen 127.0.0.1:$TEST_NGINX_SERVER_PORT2 http2;

        location /api/ {
            apikey on;
            add_header X-Apikey-Status $apikey_status always;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
        }
        location /php/ {
            apikey on;
            apikey_resource orders;
            try_files $uri @app;
        }
        location @app {
            apikey on;
            apikey_resource orders;
            rewrite ^ /backend/app break;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT;
        }
        location /app/ {
            auth_request /auth;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
        }
        location = /auth {
            internal;
            apikey on;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/auth;
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

sub k { "x-secret-key: $ApikeyTest::KEY{$_[0]}" }

# the cases, checked from the init (after nginx has started and the keys
# are loaded), then the error log
sub run_h2 {
    ApikeyTest::seed();
    my ($s, $h, $b);

    ($s, $h, $b) = h2('GET', '/api/x');
    Test::More::is($s, 401, 'h2: no key is 401');
    Test::More::like($h, qr/^www-authenticate: Bearer\r?$/mi,
                     'h2: with WWW-Authenticate');
    Test::More::is($b, '{"detail":"Missing API key"}', 'h2: missing body');

    ($s, $h, $b) = h2('GET', '/api/x', k('full'));
    Test::More::is($s, 200, 'h2: a full key passes');
    Test::More::is($b, "backend GET /backend/x x-secret-key=[] authorization=[]\n",
                   'h2: the key is removed before the upstream');

    ($s, $h, $b) = h2('GET', '/api/x',
                      "Authorization: Bearer $ApikeyTest::KEY{read}");
    Test::More::is($s, 200, 'h2: a bearer read key may GET');

    ($s, $h, $b) = h2('POST', '/api/x', k('read'));
    Test::More::is($s, 403, 'h2: a read key may not POST');
    Test::More::like($h, qr/^x-apikey-status: forbidden\r?$/mi,
                     'h2: $apikey_status says forbidden');

    ($s, $h, $b) = h2('GET', '/api/x', k('read'),
                      'x-http-method-override: DELETE');
    Test::More::is($s, 403, 'h2: nor name a write in a method override');

    ($s, $h, $b) = h2('GET', '/api/x', k('full'), k('full'));
    Test::More::is($s, 401, 'h2: two x-secret-key headers are 401');
    Test::More::is($b, '{"detail":"Invalid API key"}', 'h2: invalid body');

    ($s, $h, $b) = h2('GET', '/php/x', k('limited'));
    Test::More::is($s, 200, 'h2: try_files into a named location');
    Test::More::is($b, "backend GET /backend/app x-secret-key=[] authorization=[]\n",
                   'h2: the redirect reuses the first pass\'s key');

    ($s, $h, $b) = h2('GET', '/app/x');
    Test::More::is($s, 401, 'h2: auth_request without a key is 401');

    ($s, $h, $b) = h2('GET', '/app/x', k('read'));
    Test::More::is($s, 200, 'h2: auth_request with a key passes');

    open my $log, '<', $Test::Nginx::Util::ErrLogFile or die "error.log: $!";
    my @leaks = grep { index($_, $ApikeyTest::KEY{full}) >= 0
                       || index($_, $ApikeyTest::KEY{read}) >= 0 } <$log>;
    Test::More::is(scalar @leaks, 0, 'h2: no key in the (debug) error log')
        or Test::More::diag($leaks[0]);
    return 1;
}

run_tests();

__DATA__

=== TEST 1: guarded requests over HTTP/2
--- http_config eval
$ApikeyTest::HTTP_CONFIG . $::H2
--- init
::run_h2();
--- config eval: $ApikeyTest::API
--- request
GET /api/x
--- more_headers eval
"X-Secret-Key: $ApikeyTest::KEY{full}"
--- error_code: 200
--- response_body
backend GET /backend/x x-secret-key=[] authorization=[]
