# docs/directives.md: every directive refuses a bad value at nginx -t with a
# message naming the directive and the value; "apikey on" needs a zone and
# a Redis.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use ApikeyTest;

apikey_setup();
no_shuffle();

run_tests();

__DATA__

=== TEST 1: apikey on without apikey_zone and apikey_redis
--- http_config
--- config
    location /api/ { apikey on; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
"apikey on" requires "apikey_zone" and "apikey_redis"



=== TEST 2: apikey on with a zone but no redis
--- http_config
    apikey_zone keys:4m;
--- config
    location /api/ { apikey on; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
"apikey on" requires "apikey_zone" and "apikey_redis"



=== TEST 3: apikey_zone without a size
--- http_config
    apikey_zone keys;
    apikey_redis 127.0.0.1:6379;
--- config
--- must_die
--- error_log
invalid value "keys" in "apikey_zone" directive, it must be "name:size"



=== TEST 4: apikey_zone with a bad size
--- http_config
    apikey_zone keys:lots;
    apikey_redis 127.0.0.1:6379;
--- config
--- must_die
--- error_log
invalid zone size "keys:lots" in "apikey_zone" directive



=== TEST 5: apikey_zone too small
--- http_config
    apikey_zone keys:8k;
    apikey_redis 127.0.0.1:6379;
--- config
--- must_die
--- error_log
zone "keys" is too small in "apikey_zone" directive



=== TEST 6: apikey_redis with a bad address
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:99999;
--- config
--- must_die
--- error_log
invalid address "127.0.0.1:99999" in "apikey_redis" directive



=== TEST 7: apikey_redis with an unknown parameter
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:6379 database=2;
--- config
--- must_die
--- error_log
invalid parameter "database=2" in "apikey_redis" directive



=== TEST 8: apikey_redis with a bad db
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:6379 db=x;
--- config
--- must_die
--- error_log
invalid parameter "db=x" in "apikey_redis" directive



=== TEST 9: apikey_redis user= without password=
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:6379 user=app;
--- config
--- must_die
--- error_log
"user=" needs "password=" in "apikey_redis" directive



=== TEST 10: apikey_sync_interval with a bad time
--- http_config eval: $ApikeyTest::HTTP_CONFIG . "apikey_sync_interval often;"
--- config
--- must_die
--- error_log
invalid value "often" in "apikey_sync_interval" directive



=== TEST 11: apikey_sync_interval of zero
--- http_config eval: $ApikeyTest::HTTP_CONFIG . "apikey_sync_interval 0s;"
--- config
--- must_die
--- error_log
invalid value "0s" in "apikey_sync_interval" directive



=== TEST 12: apikey_hash_secret file missing
--- http_config eval: $ApikeyTest::HTTP_CONFIG . "apikey_hash_secret /nonexistent/secret;"
--- config
--- must_die
--- error_log
cannot open "/nonexistent/secret" in "apikey_hash_secret" directive



=== TEST 13: apikey_hash_secret too short
--- user_files
>>> short.txt
tooshort
--- http_config eval: $ApikeyTest::HTTP_CONFIG . "apikey_hash_secret ../html/short.txt;"
--- config
--- must_die
--- error_log
in "apikey_hash_secret" directive must hold 32 to 64 bytes



=== TEST 14: apikey_hash_secret too long
--- user_files eval
">>> long.txt\n" . ("x" x 65) . "\n"
--- http_config eval: $ApikeyTest::HTTP_CONFIG . "apikey_hash_secret ../html/long.txt;"
--- config
--- must_die
--- error_log
in "apikey_hash_secret" directive must hold 32 to 64 bytes



=== TEST 15: apikey with a bad flag
--- config
    location /api/ { apikey yes; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "yes" in "apikey" directive, it must be "on" or "off"



=== TEST 16: apikey_headers with an unknown header
--- config
    location /api/ { apikey on; apikey_headers bearer x-api-key; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "x-api-key" in "apikey_headers" directive, it must be "bearer" or "x-secret-key"



=== TEST 17: apikey_prefix with a character no key may hold
--- config
    location /api/ { apikey on; apikey_prefix "tk:"; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "tk:" in "apikey_prefix" directive



=== TEST 18: apikey_checksum with a bad flag
--- config
    location /api/ { apikey on; apikey_checksum maybe; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "maybe" in "apikey_checksum" directive, it must be "on" or "off"



=== TEST 19: apikey_rate_limit without /h
--- config
    location /api/ { apikey on; apikey_rate_limit 100; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "100" in "apikey_rate_limit" directive



=== TEST 20: apikey_rate_limit of zero
--- config
    location /api/ { apikey on; apikey_rate_limit 0/h; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "0/h" in "apikey_rate_limit" directive



=== TEST 21: apikey_rate_limit_scope with a bad value
--- http_config eval: $ApikeyTest::HTTP_CONFIG . "apikey_rate_limit_scope global;"
--- config
--- must_die
--- error_log
invalid value "global" in "apikey_rate_limit_scope" directive, it must be "local" or "cluster"



=== TEST 22: apikey_error_style with a bad value
--- config
    location /api/ { apikey on; apikey_error_style json; proxy_pass http://127.0.0.1:1/; }
--- must_die
--- error_log
invalid value "json" in "apikey_error_style" directive, it must be "detail" or "error"



=== TEST 23: apikey_zone is not allowed in a location
--- config
    location /api/ { apikey_zone other:4m; }
--- must_die
--- error_log
"apikey_zone" directive is not allowed here



=== TEST 24: apikey_status needs the zone
--- http_config
--- config
    location = /s { apikey_status; }
--- must_die
--- error_log
"apikey_status" requires "apikey_zone" and "apikey_redis"



=== TEST 25: a password with a bad parameter is not echoed
--- http_config
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:6379 password=hunter2 passwd=hunter3;
--- config
--- must_die
--- error_log
invalid parameter "passwd=...
--- no_error_log
hunter3
