# docs/observability.md: the status location (JSON and Prometheus), per-key usage
# written back to Redis, and that no raw key reaches any log line.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
no_shuffle();

our $API = <<'_EOC_';
    location /api/ {
        apikey on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location = /s { apikey_status; }
_EOC_

our $T = 1900000800;

# The version, from the one place that defines it.
our $VERSION = do {
    open my $h, '<', 'src/ngx_http_apikey_version.h' or die "version.h: $!";
    local $/;
    (<$h> =~ /#define NGX_HTTP_APIKEY_VERSION\s+"(\d+\.\d+\.\d+)"/)[0]
        or die "no version in ngx_http_apikey_version.h";
};
our $HOUR = int($T / 3600);

sub k { "X-Secret-Key: $ApikeyTest::KEY{$_[0]}" }

our @TRAFFIC = ("GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x",
                "GET /api/x", "POST /api/x", "GET /api/x", "GET /api/x");
our @TRAFFIC_KEYS = (k("full"), "", k("inactive"), k("expired"), k("ipdeny"),
                     k("read"), "X-Secret-Key: bad key", k("full"));
our @TRAFFIC_CODES = (200, 401, 401, 401, 403, 403, 401, 200);

run_tests();

__DATA__

=== TEST 1: status JSON counts known traffic
--- config eval: $::API
--- request eval
[@::TRAFFIC, "GET /s"]
--- more_headers eval
[@::TRAFFIC_KEYS, ""]
--- error_code eval
[@::TRAFFIC_CODES, 200]
--- response_body_like eval
[("") x 8,
 qr/^\{"zone":"keys","keys":10,"loaded":true,"zone_bytes":\{"size":4194304,"used":\d+,"free":\d+\},"sync":\{"state":"synced","owner_pid":\d+,"last_full_sync":\d+,"last_full_sync_ms":\d+,"full_syncs":\d+,"events_applied":\d+,"reconnects":0,"skipped_records":\d+,"zone_full_updates":0,"from_snapshot":false,"dataset":"ok","position":"","redis_address":"127\.0\.0\.1:\d+"\},"keys_near_limit":0,"redis":\{"last_heard":\d+,"heard_ago":\d+,"max_stale":0,"stale":false,"worker_access_denied":false,"write_errors":\{"noperm":0,"readonly":0,"other":0\},"last_write_error":0\},"quota":\{"scope":"local","redis":"shared","away_since":0,"when_away":"share","instances":0,"reports":\d+,"grants":0,"waits":0,"admitted_away":0\},"decisions":\{"ok":2,"missing":1,"invalid":2,"expired":1,"ip":1,"forbidden":1,"limited":0,"unavailable":0\},"dry_run":\{"missing":0,"invalid":0,"expired":0,"ip":0,"forbidden":0,"limited":0,"unavailable":0\},"version":"[0-9.]+"\}\n$/]



=== TEST 2: status is application/json; format=json is the same
--- config eval: $::API
--- request
GET /s?format=json
--- response_headers
Content-Type: application/json
--- response_body_like eval
qr/^\{"zone":"keys","keys":10,/



=== TEST 3: Prometheus text: HELP and TYPE lines, _total counters, decision labels
--- config eval: $::API
--- request eval
[@::TRAFFIC, "GET /s?format=prometheus"]
--- more_headers eval
[@::TRAFFIC_KEYS, ""]
--- error_code eval
[@::TRAFFIC_CODES, 200]
--- response_body_like eval
[("") x 8,
 qr/\A(?:(?:# (?:HELP|TYPE) apikey_\w+ .+|apikey_\w+\{(?:zone="keys"(?:,\w+="\w+")?|version="[0-9.]+")\} \d+(?:\.\d+)?)\n)+\z/]



=== TEST 4: Prometheus values
the counts are those of this block's traffic alone: a fresh zone
--- fresh_zone
--- config eval: $::API
--- request eval
[@::TRAFFIC, "GET /s?format=prometheus"]
--- more_headers eval
[@::TRAFFIC_KEYS, ""]
--- error_code eval
[@::TRAFFIC_CODES, 200]
--- response_body_like eval
[("") x 8,
 qr/# TYPE apikey_decisions_total counter\napikey_decisions_total\{zone="keys",decision="ok"\} 2\napikey_decisions_total\{zone="keys",decision="missing"\} 1\napikey_decisions_total\{zone="keys",decision="invalid"\} 2\n(?s:.*)apikey_keys\{zone="keys"\} 10\n|apikey_keys\{zone="keys"\} 10\n(?s:.*)# TYPE apikey_decisions_total counter\napikey_decisions_total\{zone="keys",decision="ok"\} 2\napikey_decisions_total\{zone="keys",decision="missing"\} 1\napikey_decisions_total\{zone="keys",decision="invalid"\} 2\n/]



=== TEST 5: status refuses other formats and methods
--- config eval: $::API
--- request eval
["GET /s?format=xml", "POST /s"]
--- error_code eval
[400, 405]



=== TEST 6: status with Redis away says so
--- init: 1
--- http_config
    # not "keys", which under TEST_NGINX_USE_HUP=1 outlives the reload
    # loaded: this zone must never have been
    apikey_zone unsynced:4m;
    apikey_redis 127.0.0.1:1;
--- config eval: $::API
--- request
GET /s
--- response_body_like eval
qr/"keys":0,"loaded":false,.*"sync":\{"state":"(connecting|down)"/



=== TEST 7: per-key usage is written back to Redis, per UTC hour, with last use
--- config eval: $::API
--- request eval
["GET /api/x", "GET /api/x", "POST /api/x", "GET /api/x",
 "GET /ctl/sleep?sleep=1.5",
 "GET /ctl/redis?a=GET&a=apikey:usage:k-quota3:$::HOUR",
 "GET /ctl/redis?a=GET&a=apikey:usage:k-read:$::HOUR",
 "GET /ctl/redis?a=TTL&a=apikey:usage:k-quota3:$::HOUR",
 "GET /ctl/redis?a=GET&a=apikey:usage:k-quota3:last"]
--- more_headers eval
["X-Apikey-Test-Now: $::T\r\n" . ::k("quota3"), "X-Apikey-Test-Now: $::T\r\n" . ::k("quota3"),
 "X-Apikey-Test-Now: $::T\r\n" . ::k("read"), "X-Apikey-Test-Now: $::T\r\n" . ::k("read"),
 "", "", "", "", ""]
--- error_code eval
[200, 200, 403, 200, 200, 200, 200, 200, 200]
--- response_body_like eval
["", "", "", "", "", "^2\$", "^2\$", '^(69\d{4})$', "^$::T\$"]



=== TEST 8: no raw key in any log line, at debug level, whatever the outcome
--- log_level: debug
--- http_config eval
$ApikeyTest::HTTP_CONFIG . "log_format keys '\$apikey_id \$apikey_status \$apikey_masked';"
--- config
    location /api/ {
        apikey on;
        apikey_prefix taapit_;
        access_log logs/keys.log keys;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request eval
["GET /api/x", "GET /api/x", "POST /api/x", "GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x", "GET /api/x"]
--- more_headers eval
[::k("full"), "Authorization: Bearer $ApikeyTest::KEY{read}", ::k("read"),
 ::k("expired"), ::k("ipdeny"), "X-Secret-Key: taapit_NotAKnownKeyButWellFormed123456",
 "X-Secret-Key: $ApikeyTest::KEY{full}\r\nAuthorization: Bearer $ApikeyTest::KEY{read}",
 "X-Secret-Key: \"$ApikeyTest::KEY{expired}\""]
--- error_code eval
[200, 200, 403, 401, 403, 401, 401, 401]
--- no_error_log eval
[$ApikeyTest::KEY{full}, $ApikeyTest::KEY{read}, $ApikeyTest::KEY{expired},
 $ApikeyTest::KEY{ipdeny}, "NotAKnownKeyButWellFormed123456",
 substr($ApikeyTest::KEY{full}, 7, 12), substr($ApikeyTest::KEY{read}, 10, 12)]



=== TEST 9: the access log shows the masked key and the id, never the key
--- http_config eval
$ApikeyTest::HTTP_CONFIG . "log_format keys '\$apikey_id \$apikey_status \$apikey_masked';"
--- config
    location /api/ {
        apikey on;
        apikey_prefix taapit_;
        access_log logs/keys.log keys;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location = /keys.log { apikey off; alias logs/keys.log; }
--- request eval
["GET /api/x", "GET /api/x", "GET /keys.log"]
--- more_headers eval
[::k("full"), ::k("expired"), ""]
--- response_body eval
["backend GET /backend/x x-secret-key=[] authorization=[]\n",
 '{"detail":"API key expired"}',
 "k-full ok taapit_FuLL..." . substr($ApikeyTest::KEY{full}, -4) . "\n"
 . "k-expired expired taapit_ExPi..." . substr($ApikeyTest::KEY{expired}, -4) . "\n"]
--- error_code eval
[200, 401, 200]



=== TEST 10: the module's version in JSON and as Prometheus apikey_build_info
--- config eval: $::API
--- request eval
["GET /s", "GET /s?format=prometheus"]
--- response_body_like eval
[qr/,"version":"\Q$::VERSION\E"\}\n\z/,
 qr/^# TYPE apikey_build_info gauge\napikey_build_info\{version="\Q$::VERSION\E"\} 1\n/m]
