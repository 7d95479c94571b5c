# Bad input of every kind gets a clear answer and never a crash, a leak or
# a key let through: hostile requests, and hostile records in Redis.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
no_shuffle();

our $API = $ApikeyTest::API;

# one hostile record per key: each must be refused (401), none may crash
our @HOSTILE = (
    [ 'HoStIlE0000000000000000000000001', id => 'h-long-id' . ('x' x 300), access => 'full' ],
    [ 'HoStIlE0000000000000000000000002', id => 'h-long-name', access => 'full', name => 'n' x 256 ],
    [ 'HoStIlE0000000000000000000000003', id => "h-ctl\x01id", access => 'full' ],
    [ 'HoStIlE0000000000000000000000004', id => 'h-nul-owner', access => 'full', owner => "a\0b" ],
    [ 'HoStIlE0000000000000000000000005', id => 'h-neg-expires', access => 'full', expires => '-1' ],
    [ 'HoStIlE0000000000000000000000006', id => 'h-huge-expires', access => 'full', expires => '99999999999' ],
    [ 'HoStIlE0000000000000000000000007', id => 'h-empty-ips', access => 'full', ips => ' ' ],
    [ 'HoStIlE0000000000000000000000008', id => 'h-many-ips', access => 'full',
      ips => CORE::join(' ', map { "10.0.$_.0/24" } 1 .. 65) ],
    [ 'HoStIlE0000000000000000000000009', id => 'h-bad-grant', access => 'limited', grants => 'orders:x' ],
    [ 'HoStIlE0000000000000000000000010', id => 'h-grant-nocolon', access => 'limited', grants => 'orders' ],
    [ 'HoStIlE0000000000000000000000011', id => 'h-active-yes', access => 'full', active => 'yes' ],
    [ 'HoStIlE0000000000000000000000012', id => 'h-access-case', access => 'FULL' ],
    [ 'HoStIlE0000000000000000000000013', id => 'h-limit-neg', access => 'full', limit => '-5' ],
    [ 'HoStIlE0000000000000000000000014', id => 'h-huge-grants', access => 'limited',
      grants => CORE::join(' ', map { "res$_:rw" } 1 .. 800) ],
    [ 'HoStIlE0000000000000000000000015', id => 'h-many-fields', access => 'full',
      map { ("extra$_" => 'x') } 1 .. 200 ],
);

# fields the schema does not name are ignored, however large
our $TOLERATED = [ 'HoStIlE0000000000000000000000016', id => 'h-huge-value',
                   access => 'full', note => 'z' x 1_000_000 ];

our $INIT = q{
    ApikeyTest::seed(keys => [ map { [ ApikeyTest::make_key($_->[0]), @$_[1 .. $#$_] ] }
                               @::HOSTILE, $::TOLERATED ]);
    # a key name that holds a string, not a hash
    ApikeyTest::redis('SET', 'apikey:key:' . ApikeyTest::digest(
        ApikeyTest::make_key('HoStIlE0000000000000000000000099')), 'not a hash');
    ApikeyTest::redis('PUBLISH', 'apikey:events', '*');
    select(undef, undef, undef, 0.3);
};

our @KEYS = map { "X-Secret-Key: " . ApikeyTest::make_key($_->[0]) } @HOSTILE;
push @KEYS, "X-Secret-Key: " . ApikeyTest::make_key('HoStIlE0000000000000000000000099');
our $TOLERATED_KEY = "X-Secret-Key: " . ApikeyTest::make_key($TOLERATED->[0]);

run_tests();

__DATA__

=== TEST 1: hostile records are refused, every one
--- init eval: $::INIT
--- config eval: $::API
--- request eval
[("GET /api/x") x scalar(@::KEYS), "GET /api/x", "GET /status"]
--- more_headers eval
[@::KEYS, $::TOLERATED_KEY, ""]
--- error_code eval
[(401) x scalar(@::KEYS), 200, 200]
--- response_body_like eval
[("Invalid API key") x scalar(@::KEYS), "backend", qr/"keys":11,/]



=== TEST 2: a record with large but legal fields still works
--- init
ApikeyTest::seed(keys => [[ApikeyTest::make_key("BiGbUtOk000000000000000000000080"),
    id => 'i' x 255, owner => 'o' x 255, name => 'n' x 255, access => 'limited',
    grants => CORE::join(' ', map { "res$_:rw" } 1 .. 300),
    ips => CORE::join(' ', map { "10.0.$_.0/24" } 1 .. 63) . ' 127.0.0.1']]);
--- config
    location ~ ^/res/(?<res>\w+)/ {
        apikey on;
        apikey_resource $res;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend$uri;
    }
--- request eval
["POST /res/res300/x", "POST /res/res301/x"]
--- more_headers eval
[("X-Secret-Key: " . ApikeyTest::make_key("BiGbUtOk000000000000000000000080")) x 2]
--- error_code eval
[200, 403]



=== TEST 3: NUL in a key header: nginx refuses the request itself
--- config eval: $::API
--- raw_request eval
"GET /api/x HTTP/1.0\r\nX-Secret-Key: taapit_ab\0cd\r\n\r\n"
--- error_code: 400



=== TEST 4: a 4 kB key is invalid, not a crash
--- config eval: $::API
--- more_headers eval
"X-Secret-Key: " . ("k" x 4000)
--- request
GET /api/x
--- error_code: 401
--- response_body chomp
{"detail":"Invalid API key"}



=== TEST 5: a 10 kB header line is refused by nginx itself
--- config eval: $::API
--- more_headers eval
"X-Secret-Key: " . ("k" x 10000)
--- request
GET /api/x
--- error_code: 400



=== TEST 6: 50 X-Secret-Key headers are one refusal
--- config eval: $::API
--- more_headers eval
CORE::join("\r\n", ("X-Secret-Key: $ApikeyTest::KEY{full}") x 50)
--- request
GET /api/x
--- error_code: 401
--- response_body chomp
{"detail":"Invalid API key"}



=== TEST 7: the key in odd places: header names in any case, tabs, extra spaces
--- config eval: $::API
--- request eval
["GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x"]
--- more_headers eval
["x-secret-key: $ApikeyTest::KEY{full}",
 "authorization:\tBearer\t$ApikeyTest::KEY{full}",
 "Authorization: Bearer  $ApikeyTest::KEY{full}  ",
 "X-SECRET-kEY: $ApikeyTest::KEY{full}",
 "AUTHORIZATION: bEARER $ApikeyTest::KEY{full}"]
--- error_code eval
[200, 200, 200, 200, 200]
--- response_body eval
[("backend GET /backend/x x-secret-key=[] authorization=[]\n") x 5]



=== TEST 8: "Bearer" glued to the key, or another word, is not a bearer key
--- config eval: $::API
--- request eval
["GET /api/x", "GET /api/x"]
--- more_headers eval
["Authorization: Bearer$ApikeyTest::KEY{full}",
 "Authorization: Bearerx $ApikeyTest::KEY{full}"]
--- error_code eval
[401, 401]
--- response_body eval
['{"detail":"Missing API key"}', '{"detail":"Missing API key"}']



=== TEST 9: garbage events are ignored, the keys stay
--- config eval: $::API
--- request eval
["GET /ctl/redis?a=PUBLISH&a=apikey:events&a=not-a-digest",
 "GET /ctl/redis?a=PUBLISH&a=apikey:events&a=" . ("F" x 64),
 "GET /ctl/redis?a=PUBLISH&a=apikey:events&a=" . ("0" x 3000) . "&sleep=0.1",
 "GET /api/x"]
--- more_headers eval
["", "", "", "X-Secret-Key: $ApikeyTest::KEY{full}"]
--- error_code eval
[200, 200, 200, 200]
