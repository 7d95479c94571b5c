# Self-test of the test scaffold, not of the module: stock nginx features
# only.  Must pass both under our t/lib/Test/Nginx/Socket.pm
#     TEST_NGINX_BINARY=/usr/sbin/nginx prove -I t/lib t/runner/selftest.t
# and under the CPAN Test::Nginx (same command with its lib/ instead of t/lib),
# with the same number of tests: the plan below is the compatibility check.

use Test::Nginx::Socket;

repeat_each(2);
no_long_string();
env_to_nginx('PATH');

# Blocks that look at no log themselves get a default "[emerg]" check.
add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->error_log && !defined $block->no_error_log
        && !defined $block->must_die)
    {
        $block->set_value('no_error_log', '[emerg]');
    }
});

plan tests => repeat_each() * 45;

run_tests();

__DATA__

=== TEST 1: return, add_header, a header that must be absent
--- config
    location = /t {
        add_header X-Test hello;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
X-Test: hello
!X-Absent
--- response_body
ok
--- no_error_log
[error]



=== TEST 2: proxy_pass to a second location; more_headers reach it
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
    location = /backend {
        return 200 "from backend: $http_x_foo\n";
    }
--- request
GET /t
--- more_headers
X-Foo: bar
--- response_body
from backend: bar
--- error_code: 200



=== TEST 3: a bad directive: nginx must refuse to start
--- config
    location = /t {
        no_such_directive on;
    }
--- must_die
--- error_log
unknown directive "no_such_directive"



=== TEST 4: several requests in one block, per-request headers and checks
--- config
    location /echo {
        return 200 "$request_method $uri $http_x_n\n";
    }
--- request eval
["GET /echo/a", "POST /echo/b\nhello", "GET /nope.txt"]
--- more_headers eval
["X-N: 1", "X-N: 2", "X-N: 3"]
--- error_code eval
[200, 200, 404]
--- response_body_like eval
["^GET /echo/a 1\n\$", "^POST /echo/b 2\n\$", "404 Not Found"]
--- no_error_log
[alert]



=== TEST 5: error_log with a string and a regex
--- config
--- request
GET /nope.html
--- error_code: 404
--- error_log eval
["No such file or directory", qr/open\(\) ".*nope\.html" failed/]
--- no_error_log
[crit]



=== TEST 6: raw request sent in two packets
--- config
    location = /raw {
        return 200 "raw $request_method $server_protocol\n";
    }
--- raw_request eval
["GET /raw HTTP/1.0\r\n", "Host: localhost\r\n\r\n"]
--- response_headers
Content-Type: text/plain
--- response_body
raw GET HTTP/1.0



=== TEST 7: user_files served from html/
--- config
--- user_files
>>> static/hello.txt
Hello, file
--- request
GET /static/hello.txt
--- response_headers
Content-Length: 12
--- response_body
Hello, file



=== TEST 8: HEAD: headers but no body
--- config
--- user_files
>>> h.txt
abc
--- request
HEAD /h.txt
--- response_headers
Content-Length: 4
--- response_body



=== TEST 9: a chunked response (SSI drops Content-Length)
--- config
    location /ssi/ {
        default_type text/html;
        ssi on;
    }
    location = /inc {
        return 200 "included";
    }
--- user_files
>>> ssi/page.html
<p><!--# include virtual="/inc" --></p>
--- request
GET /ssi/page.html
--- response_headers
Transfer-Encoding: chunked
--- response_body
<p>included</p>



=== TEST 10: http_config, response_headers_like; --- init runs once nginx is up
--- http_config
    map $uri $mapped {
        default "mapped";
    }
--- config
    location = /m {
        add_header X-Mapped $mapped;
        return 204;
    }
--- init
die "nginx is not running yet\n" unless -s $Test::Nginx::Util::PidFile;
--- request
GET /m
--- error_code: 204
--- response_headers_like
X-Mapped: map\w+
--- response_body



=== TEST 11: skip_nginx skips its tests
--- config
    location = /t {
        return 200 "never";
    }
--- request
GET /t
--- response_body
never
--- skip_nginx: 2: >= 1.0.0
