# Redis behind TLS, through nginx's own OpenSSL: the server certificate
# verified against a CA the suite makes (t/ctl/transport.py), the name
# checked, client certificates for mutual TLS, and never a plaintext
# connection when the handshake or the verification fails.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
master_on();
workers(1);
no_shuffle();

our $API = $ApikeyTest::API;

# the TLS servers' ports follow the suite's Redis port, see transport.py
my $P = $ENV{TEST_NGINX_REDIS_PORT} || 16380;
$ENV{TEST_NGINX_TLS_PORT} = $P + 4;
$ENV{TEST_NGINX_TLS_PLAIN_PORT} = $P + 5;
$ENV{TEST_NGINX_MTLS_PORT} = $P + 6;
$ENV{TEST_NGINX_MTLS_PLAIN_PORT} = $P + 7;
$ENV{TEST_NGINX_TLS_DIR} = ($ENV{TEST_REDIS_DIR} || '/tmp') . '/tls';

ApikeyTest::ctl('tx-tls-start');

# seeds the TLS server through its plaintext port, and waits for the
# module to have loaded it (over TLS)
sub seed_at {
    my ($port) = @_;
    local $ApikeyTest::REDIS_PORT = $port;
    ApikeyTest::seed();
}

# waits until the error log has a line matching the pattern
sub wait_log {
    my ($re) = @_;
    my $log = ($ENV{TEST_NGINX_SERVROOT} || 't/servroot') . '/logs/error.log';
    for (1 .. 500) {
        if (open my $fh, '<', $log) {
            return 1 if grep { /$re/ } <$fh>;
        }
        select(undef, undef, undef, 0.01);
    }
    warn "no \"$re\" in $log\n";
    return 0;
}

run_tests();

__DATA__

=== TEST 1: tls with tls_ca=: a valid key passes, an inactive one does not
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_TLS_PORT tls
                 tls_ca=$TEST_NGINX_TLS_DIR/ca.crt;
--- init: ::seed_at($ENV{TEST_NGINX_TLS_PLAIN_PORT})
--- config eval: $::API
--- request eval
["GET /api/x", "GET /api/x", "GET /status"]
--- more_headers eval
["X-Secret-Key: $ApikeyTest::KEY{full}",
 "X-Secret-Key: $ApikeyTest::KEY{inactive}", ""]
--- error_code eval
[200, 401, 200]
--- response_body_like eval
[qr/^backend GET/, qr/"detail"/, qr/"state":"synced"/]
--- no_error_log
verify error
[warn]



=== TEST 2: the name checked is tls_server_name= when given
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_TLS_PORT tls
                 tls_ca=$TEST_NGINX_TLS_DIR/ca.crt tls_server_name=localhost;
--- init: ::seed_at($ENV{TEST_NGINX_TLS_PLAIN_PORT})
--- config eval: $::API
--- request
GET /api/x
--- more_headers eval
"X-Secret-Key: $ApikeyTest::KEY{full}"
--- error_code: 200
--- no_error_log
does not match



=== TEST 3: a certificate for another name is refused, with the name
The mirror must never have loaded: a fresh zone.
--- fresh_zone
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_TLS_PORT tls
                 tls_ca=$TEST_NGINX_TLS_DIR/ca.crt
                 tls_server_name=redis.example.com;
--- init: ::wait_log(qr/does not match/)
--- config eval: $::API
--- request
GET /api/x
--- more_headers eval
"X-Secret-Key: $ApikeyTest::KEY{full}"
--- error_code: 503
--- error_log eval
qr/\[error\].*apikey: redis 127\.0\.0\.1:\d+, \w+ connection: TLS certificate does not match "redis\.example\.com"/



=== TEST 4: a wrong CA: 503 from a fresh start, the verification failure
logged with the address
The mirror must never have loaded: a fresh zone.
--- fresh_zone
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_MTLS_PORT tls
                 tls_ca=$TEST_NGINX_TLS_DIR/other-ca.crt;
--- init
ApikeyTest::ctl("tx-redis?port=$ENV{TEST_NGINX_MTLS_PLAIN_PORT}&a=CONFIG&a=RESETSTAT");
::wait_log(qr/verify error/);
--- config eval: $::API
--- request
GET /api/x
--- more_headers eval
"X-Secret-Key: $ApikeyTest::KEY{full}"
--- error_code: 503
--- response_body_unlike: backend
--- error_log eval
qr/\[error\].*apikey: redis 127\.0\.0\.1:\d+, \w+ connection: TLS certificate verify error: \(\d+:[^)]+\)/



=== TEST 5: a wrong CA: no command was sent to that Redis in any form, over
this block and the one before
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_MTLS_PORT tls
                 tls_ca=$TEST_NGINX_TLS_DIR/other-ca.crt;
--- init: ::wait_log(qr/verify error/)
--- config eval: $::API
--- request eval
"GET /ctl/tx-redis?port=$ENV{TEST_NGINX_MTLS_PLAIN_PORT}&a=INFO&a=commandstats"
--- error_code: 200
--- response_body_like: cmdstat_config
--- response_body_unlike: cmdstat_(ping|auth|subscribe|select|scan|hgetall)



=== TEST 6: mutual TLS: with the client certificate the keys load
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_MTLS_PORT tls
                 tls_ca=$TEST_NGINX_TLS_DIR/ca.crt
                 tls_cert=$TEST_NGINX_TLS_DIR/client.crt
                 tls_key=$TEST_NGINX_TLS_DIR/client.key;
--- init: ::seed_at($ENV{TEST_NGINX_MTLS_PLAIN_PORT})
--- config eval: $::API
--- request
GET /api/x
--- more_headers eval
"X-Secret-Key: $ApikeyTest::KEY{full}"
--- error_code: 200



=== TEST 7: mutual TLS: without a client certificate Redis refuses
The mirror must never have loaded: a fresh zone.
--- fresh_zone
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_MTLS_PORT tls
                 tls_ca=$TEST_NGINX_TLS_DIR/ca.crt;
--- init: ::wait_log(qr/\[error\].*apikey: redis/)
--- config eval: $::API
--- request
GET /api/x
--- more_headers eval
"X-Secret-Key: $ApikeyTest::KEY{full}"
--- error_code: 503



=== TEST 8: tls_verify=off works, and says so once as a warning
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_TLS_PORT tls tls_verify=off;
--- init: ::seed_at($ENV{TEST_NGINX_TLS_PLAIN_PORT})
--- config eval: $::API
--- request
GET /api/x
--- more_headers eval
"X-Secret-Key: $ApikeyTest::KEY{full}"
--- error_code: 200
--- error_log eval
qr/\[warn\].*apikey: redis 127\.0\.0\.1:\d+: the server certificate is not verified \(tls_verify=off\)/



=== TEST 9: a plaintext Redis on the TLS address: no fallback, 503
The mirror must never have loaded: a fresh zone.
--- fresh_zone
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_TLS_PLAIN_PORT tls tls_verify=off;
--- init: ::wait_log(qr/\[error\].*apikey: redis/)
--- config eval: $::API
--- request
GET /api/x
--- more_headers eval
"X-Secret-Key: $ApikeyTest::KEY{full}"
--- error_code: 503
--- error_log eval
qr/\[error\].*apikey: redis 127\.0\.0\.1:\d+, \w+ connection: (connect or )?TLS handshake (failed|timed out)/



=== TEST 10: bad transport parameters are refused by nginx -t
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_TLS_PORT tls_ca=/nonexistent;
--- config eval: $::API
--- must_die
--- error_log
"tls_*=" parameters require "tls"



=== TEST 11: tls_cert= without tls_key=
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_TLS_PORT tls
                 tls_cert=$TEST_NGINX_TLS_DIR/client.crt;
--- config eval: $::API
--- must_die
--- error_log
"tls_cert=" and "tls_key=" go together



=== TEST 12: tls_verify= takes on or off
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_TLS_PORT tls tls_verify=yes;
--- config eval: $::API
--- must_die
--- error_log
"tls_verify=" takes "on" or "off"



=== TEST 13: apikeyctl --tls --tls-ca: a key created through TLS passes
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_TLS_PORT tls
                 tls_ca=$TEST_NGINX_TLS_DIR/ca.crt;
--- init: ::seed_at($ENV{TEST_NGINX_TLS_PLAIN_PORT})
--- config eval: $::API
--- request eval
"GET /ctl/tx-apikeyctl?a=--redis&a=127.0.0.1:$ENV{TEST_NGINX_TLS_PORT}&a=--tls&a=--tls-ca&a=$ENV{TEST_NGINX_TLS_DIR}/ca.crt&a=create&a=--id&a=k-ctl-tls"
--- response_body
exit=0 200



=== TEST 14: apikeyctl --tls against a CA that did not sign: refused
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_TLS_PORT tls
                 tls_ca=$TEST_NGINX_TLS_DIR/ca.crt;
--- init: ::seed_at($ENV{TEST_NGINX_TLS_PLAIN_PORT})
--- config eval: $::API
--- request eval
"GET /ctl/tx-apikeyctl?a=--redis&a=127.0.0.1:$ENV{TEST_NGINX_TLS_PORT}&a=--tls&a=--tls-ca&a=$ENV{TEST_NGINX_TLS_DIR}/other-ca.crt&a=create&a=--id&a=k-ctl-bad"
--- response_body_like eval
qr/^exit=3 apikeyctl: TLS handshake with 127\.0\.0\.1:\d+ failed: [^\n]*certificate/



=== TEST 15: apikeyctl with mutual TLS
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$TEST_NGINX_MTLS_PORT tls
                 tls_ca=$TEST_NGINX_TLS_DIR/ca.crt
                 tls_cert=$TEST_NGINX_TLS_DIR/client.crt
                 tls_key=$TEST_NGINX_TLS_DIR/client.key;
--- init: ::seed_at($ENV{TEST_NGINX_MTLS_PLAIN_PORT})
--- config eval: $::API
--- request eval
"GET /ctl/tx-apikeyctl?a=--redis&a=127.0.0.1:$ENV{TEST_NGINX_MTLS_PORT}&a=--tls&a=--tls-ca&a=$ENV{TEST_NGINX_TLS_DIR}/ca.crt&a=--tls-cert&a=$ENV{TEST_NGINX_TLS_DIR}/client.crt&a=--tls-key&a=$ENV{TEST_NGINX_TLS_DIR}/client.key&a=create&a=--id&a=k-ctl-mtls"
--- response_body
exit=0 200
