# Key lifecycle end to end: keys made by apikeyctl (tools/) reach the
# module's decision as their options say.  The control server runs
# apikeyctl, keeps the key it prints, and sends requests with it (/send),
# since a key printed once cannot be known when the block is written.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
no_shuffle();

our $API = <<'_EOC_';
    location /api/ {
        apikey on;
        apikey_prefix taapit_;
        apikey_checksum on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /orders/ {
        apikey on;
        apikey_resource orders;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
_EOC_

sub esc { my ($s) = @_; $s =~ s/([^A-Za-z0-9\-_.~])/sprintf("%%%02X", ord $1)/ge; $s }
sub ctl { "GET /ctl/apikeyctl?" . join('&', map { "a=" . esc($_) } @_) }
sub send { my ($k, $m, $p) = @_; "GET /ctl/send?key=$k&method=$m&path=$p" }

run_tests();

__DATA__

=== TEST 1: create, then use, then revoke: 401 within 100 ms
--- config eval: $::API
--- request eval
[::ctl(qw(create --id e2e-full --owner acme)) . "&save=full",
 ::send("full", "GET", "/api/x"),
 ::send("full", "DELETE", "/api/x"),
 ::ctl(qw(revoke e2e-full)) . "&sleep=0.1",
 ::send("full", "GET", "/api/x")]
--- response_body_like eval
["exit=0", "^200 backend GET", "^200 backend DELETE", "exit=0",
 '^401 \{"detail":"Invalid API key"\}$']



=== TEST 2: access read and limited, with grants
--- config eval: $::API
--- request eval
[::ctl(qw(create --id e2e-read --access read)) . "&save=read",
 ::ctl(qw(create --id e2e-lim --access limited --grant orders:rw)) . "&save=lim",
 ::ctl(qw(create --id e2e-lim-r --access limited --grant orders:r)) . "&save=limr&sleep=0.1",
 ::send("read", "GET", "/api/x"), ::send("read", "POST", "/api/x"),
 ::send("lim", "POST", "/orders/1"), ::send("lim", "GET", "/api/x"),
 ::send("limr", "GET", "/orders/1"), ::send("limr", "PUT", "/orders/1")]
--- response_body_like eval
["exit=0", "exit=0", "exit=0", "^200 ", "^403 ", "^200 ", "^403 ", "^200 ", "^403 "]



=== TEST 3: expiry, limit, addresses, inactive
--- timeout: 10
--- config eval: $::API
--- request eval
[::ctl(qw(create --id e2e-exp --expires +2s)) . "&save=exp",
 ::ctl(qw(create --id e2e-lim2 --limit 2)) . "&save=lim2",
 ::ctl(qw(create --id e2e-ipno --ip 10.0.0.0/8 --ip 2001:db8::/32)) . "&save=ipno",
 ::ctl(qw(create --id e2e-ipyes --ip 10.0.0.0/8 --ip 127.0.0.1/32)) . "&save=ipyes",
 ::ctl(qw(create --id e2e-off --inactive)) . "&save=off&sleep=0.1",
 ::send("exp", "GET", "/api/x"),
 ::send("lim2", "GET", "/api/x"), ::send("lim2", "GET", "/api/x"), ::send("lim2", "GET", "/api/x"),
 ::send("ipno", "GET", "/api/x"), ::send("ipyes", "GET", "/api/x"),
 ::send("off", "GET", "/api/x"),
 "GET /ctl/sleep?sleep=2.5",
 ::send("exp", "GET", "/api/x")]
--- response_body_like eval
["exit=0", "exit=0", "exit=0", "exit=0", "exit=0",
 "^200 ", "^200 ", "^200 ", "^429 ", "^403 ", "^200 ", '^401 \{"detail":"Invalid', "",
 '^401 \{"detail":"API key expired"\}$']



=== TEST 4: rotate: both keys work in the grace period, then only the new one
--- timeout: 10
--- config eval: $::API
--- request eval
[::ctl(qw(create --id e2e-rot --access read)) . "&save=old",
 ::ctl(qw(rotate e2e-rot --grace 2s)) . "&save=new&sleep=0.1",
 ::send("old", "GET", "/api/x"), ::send("new", "GET", "/api/x"),
 ::send("new", "POST", "/api/x"),
 "GET /ctl/sleep?sleep=2.5",
 ::send("old", "GET", "/api/x"), ::send("new", "GET", "/api/x")]
--- response_body_like eval
["exit=0", "exit=0", "^200 ", "^200 ", "^403 ", "",
 '^401 \{"detail":"API key expired"\}$', "^200 "]



=== TEST 5: delete, and the errors apikeyctl reports
--- config eval: $::API
--- request eval
[::ctl(qw(create --id e2e-del)) . "&save=del&sleep=0.1",
 ::send("del", "GET", "/api/x"),
 ::ctl(qw(delete e2e-del)) . "&sleep=0.1",
 ::send("del", "GET", "/api/x"),
 ::ctl(qw(revoke no-such-id)),
 ::ctl(qw(create --access admin)),
 ::ctl(qw(create --expires someday))]
--- response_body_like eval
["exit=0", "^200 ", "exit=0", "^401 ", "exit=2", "exit=1", "exit=1"]
