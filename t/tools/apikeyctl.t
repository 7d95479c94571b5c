#!/usr/bin/env bash
#
# apikeyctl and the key-issuing examples (docs/examples/issue_key.{py,js})
# against a private redis-server; prints TAP.
#
#   prove t/tools/apikeyctl.t        (perl hands a non-perl #! to bash)
#   prove -e bash t/tools/apikeyctl.t
#   bash t/tools/apikeyctl.t
#
# Environment: APIKEY_TEST_REDIS_PORT for the private Redis on 127.0.0.1
# (default: TEST_NGINX_REDIS_PORT + 99, 16479 without it, so that suites
# on other ports do not meet); APIKEYCTL to test a given binary instead of
# building build/apikeyctl.

set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
port=${APIKEY_TEST_REDIS_PORT:-$(( ${TEST_NGINX_REDIS_PORT:-16380} + 99 ))}
examples=$top/docs/examples

if ! command -v redis-server >/dev/null 2>&1 \
   || ! command -v redis-cli >/dev/null 2>&1
then
    echo "1..0 # SKIP redis-server or redis-cli not installed"
    exit 0
fi

if [ -n "${APIKEYCTL:-}" ]; then
    A=$APIKEYCTL
else
    A=$top/build/apikeyctl
    if ! make -s -C "$top/tools" BUILD="$top/build" >&2; then
        echo "Bail out! cannot build apikeyctl (make -C tools)"
        exit 1
    fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/apikeyctl-t.XXXXXX")
subpid=

cleanup() {
    if [ -n "$subpid" ]; then
        kill "$subpid" 2>/dev/null
    fi
    if [ -f "$tmp/redis.pid" ]; then
        kill "$(cat "$tmp/redis.pid")" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            [ -f "$tmp/redis.pid" ] || break
            kill -0 "$(cat "$tmp/redis.pid" 2>/dev/null)" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$tmp/redis.pid" --dir "$tmp" \
    --logfile "$tmp/redis.log" --unixsocket "$tmp/redis.sock" \
    --unixsocketperm 700 >/dev/null 2>&1

up=
for _ in $(seq 1 50); do
    if redis-cli -p "$port" PING 2>/dev/null | grep -q PONG; then
        up=1
        break
    fi
    sleep 0.1
done

if [ -z "$up" ]; then
    echo "Bail out! redis-server did not start on 127.0.0.1:$port" \
         "(set APIKEY_TEST_REDIS_PORT)"
    tail -5 "$tmp/redis.log" 2>/dev/null | sed 's/^/# /'
    exit 1
fi

R=(--redis "127.0.0.1:$port")
n=0
failed=0


# --- TAP helpers -------------------------------------------------------

pass() {
    n=$((n + 1))
    echo "ok $n - $1"
}

fail() {
    n=$((n + 1))
    failed=$((failed + 1))
    echo "not ok $n - $1"
    shift
    for line in "$@"; do
        echo "#   $line"
    done
}

skip() {
    n=$((n + 1))
    echo "ok $n - $1 # SKIP $2"
}

# is GOT EXPECTED NAME
is() {
    if [ "$1" == "$2" ]; then
        pass "$3"
    else
        fail "$3" "got:      '$1'" "expected: '$2'"
    fi
}

# like GOT REGEX NAME
like() {
    if [[ "$1" =~ $2 ]]; then
        pass "$3"
    else
        fail "$3" "got: '$1'" "not matching: $2"
    fi
}

# run CMD...: sets out, err, rc
run() {
    out=$("$@" 2>"$tmp/err")
    rc=$?
    err=$(cat "$tmp/err")
}

# exits NAME CODE CMD...
exits() {
    local name=$1 code=$2
    shift 2
    run "$@"
    if [ "$rc" = "$code" ] && [ -n "$err" ]; then
        pass "$name"
    else
        fail "$name" "exit $rc (expected $code), stderr: $err"
    fi
}

rc_() {
    redis-cli -p "$port" "$@"
}

# record DIGEST [PREFIX]: the hash as sorted field=value lines
record() {
    redis-cli -p "$port" --raw HGETALL "${2:-apikey:}key:$1" \
        | paste -d= - - | sort
}

# expect_record DIGEST field=value... : the hash holds exactly these
expect_record() {
    local d=$1 name=$2
    shift 2
    is "$(record "$d")" "$(printf '%s\n' "$@" | sort)" "$name"
}

# changes N [PREFIX]: the "d" of the change log's last N entries, oldest
# first, one a line
changes() {
    redis-cli -p "$port" --raw XREVRANGE "${2:-apikey:}changes" + - \
        COUNT "$1" | awk 'NR % 3 == 0' | tac
}

# subscribe CHANNEL: listen in the background, into $tmp/sub.out
subscribe() {
    : >"$tmp/sub.out"
    timeout 10 redis-cli -p "$port" SUBSCRIBE "$1" >"$tmp/sub.out" &
    subpid=$!
    for _ in $(seq 1 50); do
        [ "$(rc_ PUBSUB NUMSUB "$1" | tail -1)" = 1 ] && return
        sleep 0.05
    done
}

# published DIGEST...: each was published; stops the listener
published() {
    local d ok
    for _ in $(seq 1 40); do
        ok=1
        for d in "$@"; do
            grep -qx "$d" "$tmp/sub.out" || ok=
        done
        [ -n "$ok" ] && break
        sleep 0.05
    done
    kill "$subpid" 2>/dev/null
    wait "$subpid" 2>/dev/null
    subpid=
    [ -n "$ok" ]
}

json_ok() {
    printf '%s' "$1" | python3 -m json.tool >/dev/null 2>&1
}

# py EXPR: evaluates EXPR with j = the JSON in $out
py() {
    printf '%s' "$out" | python3 -c \
        "import json,sys; j=json.load(sys.stdin); print($1)" 2>&1
}

checksum_ok() {
    python3 - "$1" <<'EOF'
import sys, zlib
A = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
k = sys.argv[1]
c, s = zlib.crc32(k[:-6].encode()), ""
for _ in range(6):
    c, d = divmod(c, 62)
    s = A[d] + s
sys.exit(0 if s == k[-6:] else 1)
EOF
}

have_python=
command -v python3 >/dev/null 2>&1 && have_python=1
have_node=
command -v node >/dev/null 2>&1 && have_node=1

now=$(date +%s)


# --- create: the record, the id string, the event ----------------------

subscribe apikey:events
run "$A" "${R[@]}" create --id t1 --owner alice --name "CI key" \
    --access limited --grant users:r --grant billing:rw --grant users:w \
    --expires 2027-01-31T12:00:00Z --limit 1000 --ip 10.0.0.0/8 \
    --ip 2001:db8::/32
is "$rc" 0 "create exits 0"
key=$out
like "$key" '^taapit_[0-9A-Za-z]{38}$' \
    "create prints only the key: prefix, 32 random, 6 checksum chars"
d1=$(rc_ GET apikey:id:t1)
like "$d1" '^[0-9a-f]{64}$' "id:t1 holds a lowercase hex digest"
if published "$d1"; then
    pass "create publishes the digest on apikey:events"
else
    fail "create publishes the digest on apikey:events" \
         "got: $(tr '\n' ' ' <"$tmp/sub.out")"
fi
like "$err" "t1" "create names the id on stderr"
is "$(rc_ --raw XREVRANGE apikey:changes + - COUNT 1 | sed -n 2,3p)" \
    "$(printf 'd\n%s' "$d1")" \
    "create appends \"d <digest>\" to apikey:changes, in its transaction"
epoch=$(rc_ GET apikey:epoch)
like "$epoch" '^[0-9a-f]{32}$' "the first write names the dataset: apikey:epoch"

if [ -n "$have_python" ]; then
    if checksum_ok "$key"; then
        pass "the key ends in its CRC-32 base62 checksum"
    else
        fail "the key ends in its CRC-32 base62 checksum" "$key"
    fi
else
    skip "the key ends in its CRC-32 base62 checksum" "no python3"
fi

is "$(printf '%s\n' "$key" | "$A" hash)" "$d1" \
    "apikeyctl hash of the printed key is the stored digest"
is "$(printf '%s' "$key" | "$A" hash)" "$d1" \
    "hash without a trailing newline"
expect_record "$d1" "create writes exactly the schema's fields" \
    id=t1 owner=alice "name=CI key" access=limited \
    "grants=users:rw billing:rw" expires=1801396800 active=1 limit=1000 \
    "ips=10.0.0.0/8 2001:db8::/32"

dump=$(for k in $(rc_ --scan); do
           case "$(rc_ TYPE "$k")" in
           hash) rc_ --raw HGETALL "$k" ;;
           string) rc_ --raw GET "$k" ;;
           esac
       done)
if [ -n "$dump" ] && ! grep -qF "$key" <<<"$dump" \
   && ! grep -qF "${key:7:20}" <<<"$dump$err"
then
    pass "the raw key is stored nowhere and not on stderr"
else
    fail "the raw key is stored nowhere and not on stderr"
fi

run "$A" "${R[@]}" create --id t2
d2=$(rc_ GET apikey:id:t2)
expect_record "$d2" "create defaults: access full, active 1, nothing else" \
    id=t2 access=full active=1

run "$A" "${R[@]}" create
id=$(rc_ --scan --pattern 'apikey:id:k_*' | head -1)
like "$id" '^apikey:id:k_[0-9A-Za-z]{12}$' "a generated id is k_ + 12 base62"

exits "create refuses an id that exists" 1 "$A" "${R[@]}" create --id t1
is "$(rc_ GET apikey:id:t1)" "$d1" "... and leaves it alone"

run "$A" "${R[@]}" create --id t3 --inactive --limit unlimited \
    --access read --expires 1900000000 --key-prefix sk_live_
like "$out" '^sk_live_[0-9A-Za-z]{38}$' "--key-prefix starts the key"
d3=$(rc_ GET apikey:id:t3)
expect_record "$d3" "--inactive, --limit unlimited, --access read" \
    id=t3 access=read expires=1900000000 active=0 limit=unlimited
is "$(printf '%s\n' "$out" | "$A" hash)" "$d3" "hash of a --key-prefix key"
if [ -n "$have_python" ] && checksum_ok "$out"; then
    pass "the checksum covers the custom prefix"
elif [ -z "$have_python" ]; then
    skip "the checksum covers the custom prefix" "no python3"
else
    fail "the checksum covers the custom prefix" "$out"
fi

# --expires: each form lands in the expires field

for spec in "1900000000=1900000000" "2027-01-31=1801353600" \
            "2027-01-31T12:00:00Z=1801396800" "2028-02-29T23:59=1835481540" \
            "+30d=2592000" "+12h=43200" "+90m=5400" "+45s=45"
do
    arg=${spec%%=*}
    want=${spec#*=}
    t0=$(date +%s)
    run "$A" "${R[@]}" create --id "exp$n" --expires "$arg"
    got=$(rc_ HGET "apikey:key:$(rc_ GET "apikey:id:exp$n")" expires)
    if [ "${arg:0:1}" = + ]; then
        t1=$(date +%s)
        # time() reads the kernel's coarse clock, which may still be in
        # the second before the one date(1) saw just earlier
        if [ -n "$got" ] && [ "$got" -ge $((t0 - 1 + want)) ] \
           && [ "$got" -le $((t1 + want)) ]
        then
            pass "--expires $arg is now + $want"
        else
            fail "--expires $arg is now + $want" "got $got at $t0"
        fi
    else
        is "$got" "$want" "--expires $arg is $want"
    fi
done

run "$A" "${R[@]}" create --id never1 --expires never
is "$(rc_ HEXISTS "apikey:key:$(rc_ GET apikey:id:never1)" expires)" 0 \
    "--expires never writes no expires"

run "$A" "${R[@]}" create --id ip6 --ip ::1 --ip 192.168.1.7 \
    --ip fe80::/10 --ip 0.0.0.0/0
is "$(rc_ HGET "apikey:key:$(rc_ GET apikey:id:ip6)" ips)" \
    "::1 192.168.1.7 fe80::/10 0.0.0.0/0" "--ip takes v4, v6, hosts, /0"


# --- bad flags, dates, CIDRs: exit 1, nothing written ------------------

before=$(rc_ DBSIZE)
exits "no command" 1 "$A" "${R[@]}"
exits "unknown command" 1 "$A" "${R[@]}" frobnicate
exits "unknown option" 1 "$A" "${R[@]}" create --bogus
exits "option without its value" 1 "$A" "${R[@]}" create --owner
exits "option of another command" 1 "$A" "${R[@]}" create --grace 1h
exits "option given twice" 1 "$A" "${R[@]}" create --owner a --owner b
exits "show without an id" 1 "$A" "${R[@]}" show
exits "list with an argument" 1 "$A" "${R[@]}" list extra
exits "--access bogus" 1 "$A" "${R[@]}" create --access admin
exits "--grant without --access limited" 1 "$A" "${R[@]}" create \
    --grant users:r
for g in users users:x :r "a b:r" users:rwx "$(printf 'r%.0s' {1..256}):r"
do
    exits "--grant '$g'" 1 "$A" "${R[@]}" create --access limited \
        --grant "$g"
done
for e in 2027-13-01 2027-02-30 2027-02-29 2026-1-1 tomorrow +5x + -5 \
         2027-01-31T24:00:00Z 2027-01-31T12:60 1969-12-31 '' 4294967296 \
         2106-02-08 +200y
do
    exits "--expires '$e'" 1 "$A" "${R[@]}" create --expires "$e"
done
for c in 300.1.1.1 10.0.0.0/33 10.0.0.1/8 ::1/129 2001:db8::1/32 foo \
         10.0.0.0/ 10.0.0.0/-1 1.2.3 ''
do
    exits "--ip '$c'" 1 "$A" "${R[@]}" create --ip "$c"
done
for l in -1 abc 1.5 99999999999 '' '5/s 6/s' 5/w 1000001/s '5/s,6/h' \
         '10 5/h' 'unlimited 5/s' /s; do
    exits "--limit '$l'" 1 "$A" "${R[@]}" create --limit "$l"
done
exits "--id with a space" 1 "$A" "${R[@]}" create --id "a b"
exits "--owner with a newline" 1 "$A" "${R[@]}" create \
    --owner "$(printf 'a\nb')"
exits "--key-prefix with a space" 1 "$A" "${R[@]}" create --key-prefix "a b"
exits "--grace bogus" 1 "$A" "${R[@]}" rotate t1 --grace soon
exits "--hours 0" 1 "$A" "${R[@]}" usage t1 --hours 0
exits "--db bogus" 1 "$A" "${R[@]}" --db x list
exits "--redis bogus" 1 "$A" --redis "127.0.0.1:99999" list
exits "hash of empty stdin" 1 "$A" hash </dev/null
exits "hash of two lines" 1 "$A" hash <<<"$(printf 'a\nb')"
is "$(rc_ DBSIZE)" "$before" "nothing was written by the refused commands"
run "$A" "${R[@]}" create --id t-win --limit '1000/h  20/s 3/d'
is "$rc:$(rc_ HGET "apikey:key:$(rc_ GET apikey:id:t-win)" limit)" \
    "0:20/s 1000/h 3/d" "--limit terms are written s, m, h, d"
run "$A" "${R[@]}" create --id t-win2 --limit '0042/h'
is "$rc:$(rc_ HGET "apikey:key:$(rc_ GET apikey:id:t-win2)" limit)" \
    "0:42" "--limit of an hour alone is written as a bare number"

run "$A" --help
like "$rc:$out" '^0:Usage: apikeyctl' "--help prints usage and exits 0"


# --- unknown ids: exit 2 -----------------------------------------------

for c in show revoke delete rotate usage; do
    exits "$c of an unknown id exits 2" 2 "$A" "${R[@]}" "$c" nosuch
done


# --- Redis unreachable, refused: exit 3 --------------------------------

exits "unreachable Redis exits 3" 3 "$A" --redis 127.0.0.1:1 list
exits "unreachable unix socket exits 3" 3 "$A" --redis "unix:$tmp/nope" list
exits "create against unreachable Redis exits 3" 3 \
    "$A" --redis 127.0.0.1:1 create

rc_ ACL SETUSER ctl on '>s3cret-pass' '~*' '&*' '+@all' >/dev/null
exits "wrong password exits 3" 3 "$A" "${R[@]}" --user ctl \
    --password wrong list
run "$A" "${R[@]}" --user ctl --password s3cret-pass show t1
like "$rc:$out" '^0:.*t1' "--user/--password authenticate"
run env APIKEYCTL_PASSWORD=s3cret-pass "$A" "${R[@]}" --user ctl show t1
is "$rc" 0 "APIKEYCTL_PASSWORD is the password"
if grep -q "s3cret" <<<"$err"; then
    fail "the password is not echoed"
else
    pass "the password is not echoed"
fi
printf 's3cret-pass\n' > "$tmp/pw"
run "$A" "${R[@]}" --user ctl --password-file "$tmp/pw" show t1
like "$rc:$out" '^0:.*t1' "--password-file authenticates"
printf 'Wrong-File-Pass-31\n' > "$tmp/pw-wrong"
exits "a wrong --password-file exits 3" 3 "$A" "${R[@]}" --user ctl \
    --password-file "$tmp/pw-wrong" list
if grep -q "Wrong-File-Pass" <<<"$err"; then
    fail "the password of a file is not echoed" "$err"
else
    pass "the password of a file is not echoed"
fi
: > "$tmp/pw-empty"
exits "an empty --password-file exits 1" 1 "$A" "${R[@]}" --user ctl \
    --password-file "$tmp/pw-empty" list
printf 'ctl\nTwo-Line-Pass-52\n' > "$tmp/pw-two"
exits "a --password-file of two lines exits 1" 1 "$A" "${R[@]}" \
    --user ctl --password-file "$tmp/pw-two" list
if grep -q "Two-Line-Pass" <<<"$err"; then
    fail "a --password-file of two lines is not echoed" "$err"
else
    pass "a --password-file of two lines is not echoed"
fi
exits "a missing --password-file exits 1" 1 "$A" "${R[@]}" --user ctl \
    --password-file "$tmp/nope" list
exits "--password with --password-file exits 1" 1 "$A" "${R[@]}" \
    --user ctl --password s3cret-pass --password-file "$tmp/pw" list
rc_ ACL DELUSER ctl >/dev/null


# --- transports, databases, prefixes -----------------------------------

run "$A" --redis "unix:$tmp/redis.sock" show t1
like "$rc:$out" '^0:.*alice' "--redis unix:/path"

run "$A" "${R[@]}" --db 3 create --id indb3
is "$rc:$(rc_ -n 3 EXISTS apikey:id:indb3):$(rc_ EXISTS apikey:id:indb3)" \
    "0:1:0" "--db 3 writes database 3"

subscribe "tenant/x:events"
run "$A" "${R[@]}" --prefix "tenant/x:" create --id p1 --owner bob
dp=$(rc_ GET "tenant/x:id:p1")
is "$(record "$dp" "tenant/x:")" \
    "$(printf '%s\n' access=full active=1 id=p1 owner=bob)" \
    "--prefix places the record"
if [ -n "$dp" ] && published "$dp"; then
    pass "--prefix publishes on <prefix>events"
else
    fail "--prefix publishes on <prefix>events"
fi
run "$A" "${R[@]}" --prefix "tenant/x:" list
like "$out" 'p1' "list under --prefix"
if grep -q '^t1 ' <<<"$out"; then
    fail "list under --prefix shows only its keys"
else
    pass "list under --prefix shows only its keys"
fi


# --- --hash-secret -----------------------------------------------------

printf '0123456789abcdef0123456789abcdef\n' >"$tmp/secret"
printf 'too short\n' >"$tmp/short"
head -c 65 /dev/zero | tr '\0' x >"$tmp/long"
run "$A" "${R[@]}" --hash-secret "$tmp/secret" create --id s1
skey=$out
ds=$(rc_ GET apikey:id:s1)
is "$(printf '%s\n' "$skey" | "$A" --hash-secret "$tmp/secret" hash)" \
    "$ds" "hash --hash-secret of a key equals the stored digest"
if [ "$(printf '%s\n' "$skey" | "$A" hash)" != "$ds" ]; then
    pass "the secret changes the digest"
else
    fail "the secret changes the digest"
fi
is "$(printf '%s' taapit_0123456789ABCDEFGHIJKLMNOPQRSTUV0NJ4il | "$A" hash)" \
    5346e6040d79fb77c659ab9c4563897a26569bcb9682a76e5a02e2270690af2e \
    "the worked example of docs/keys.md (no secret)"
is "$(printf '%s' taapit_0123456789ABCDEFGHIJKLMNOPQRSTUV0NJ4il \
      | "$A" --hash-secret "$tmp/secret" hash)" \
    8e5a47cf20d3406368ae55125affcada23c5f6b176eee950586593fda7e451be \
    "the worked example of docs/keys.md (with the secret)"
exits "a secret under 32 bytes exits 1" 1 \
    "$A" --hash-secret "$tmp/short" hash <<<"x"
exits "a secret over 64 bytes exits 1" 1 \
    "$A" --hash-secret "$tmp/long" hash <<<"x"
exits "a missing secret file exits 1" 1 \
    "$A" --hash-secret "$tmp/none" hash <<<"x"


# --- revoke, rotate, delete --------------------------------------------

subscribe apikey:events
run "$A" "${R[@]}" revoke t2
is "$rc:$(rc_ HGET "apikey:key:$d2" active)" "0:0" "revoke sets active=0"
if published "$d2"; then
    pass "revoke publishes the digest"
else
    fail "revoke publishes the digest"
fi
expect_record "$d2" "revoke changes nothing else" id=t2 access=full active=0

subscribe apikey:events
run "$A" "${R[@]}" update t2 --limit '5000 20/s'
is "$rc:$(rc_ HGET "apikey:key:$d2" limit)" "0:20/s 5000/h" \
    "update --limit writes the terms as create does"
if published "$d2"; then
    pass "update publishes the digest"
else
    fail "update publishes the digest"
fi
exits "update --limit '5/s 6/s'" 1 "$A" "${R[@]}" update t2 --limit '5/s 6/s'
exits "update without --limit" 1 "$A" "${R[@]}" update t2
exits "update --owner" 1 "$A" "${R[@]}" update t2 --limit 5 --owner x
exits "update of an unknown id" 2 "$A" "${R[@]}" update nope --limit 5
is "$(rc_ HGET "apikey:key:$d2" limit)" "20/s 5000/h" \
    "refused updates change nothing"
run "$A" "${R[@]}" update t2 --limit unlimited
is "$rc:$(rc_ HGET "apikey:key:$d2" limit)" "0:unlimited" "update --limit unlimited"
is "$(changes 1)" "$d2" "revoke appends its digest to the change log"
is "$(rc_ GET apikey:epoch)" "$epoch" "later writes keep the epoch (SET NX)"

subscribe apikey:events
t0=$(date +%s)
run "$A" "${R[@]}" rotate t1 --grace 2h
t1=$(date +%s)
nkey=$out
is "$rc" 0 "rotate exits 0"
like "$nkey" '^taapit_[0-9A-Za-z]{38}$' "rotate prints only the new key"
nd=$(printf '%s\n' "$nkey" | "$A" hash)
nid=$(rc_ HGET "apikey:key:$nd" id)
like "$nid" '^k_[0-9A-Za-z]{12}$' "the new record has a new generated id"
is "$(rc_ GET "apikey:id:$nid")" "$nd" "the new id string holds the digest"
expect_record "$nd" "the new record copies the fields, adds rotated_from" \
    "id=$nid" owner=alice "name=CI key" access=limited \
    "grants=users:rw billing:rw" expires=1801396800 active=1 limit=1000 \
    "ips=10.0.0.0/8 2001:db8::/32" rotated_from=t1
oexp=$(rc_ HGET "apikey:key:$d1" expires)
if [ "$oexp" -ge $((t0 + 7200)) ] && [ "$oexp" -le $((t1 + 7200)) ]; then
    pass "the old key expires after the grace period"
else
    fail "the old key expires after the grace period" "got $oexp at $t0"
fi
is "$(rc_ HGET "apikey:key:$d1" active)" 1 "the old key stays active"
odep=$(rc_ HGET "apikey:key:$d1" deprecated)
if [ "$odep" -ge "$t0" ] && [ "$odep" -le "$t1" ] \
   && [ "$oexp" -eq $((odep + 7200)) ]; then
    pass "the old key is deprecated at the time of the rotation"
else
    fail "the old key is deprecated at the time of the rotation" \
        "deprecated $odep, expires $oexp, at $t0..$t1"
fi
run "$A" "${R[@]}" show t1
like "$out" $'\ndeprecated +[0-9]+ \\(20[0-9-]+T[0-9:]+Z\\)\n' \
    "show prints when the key was deprecated"
if published "$nd" "$d1"; then
    pass "rotate publishes both digests"
else
    fail "rotate publishes both digests"
fi
is "$(changes 2)" "$(printf '%s\n%s' "$nd" "$d1")" \
    "rotate appends both digests to the change log"

soon=$((now + 600))
run "$A" "${R[@]}" create --id t4 --expires "$soon"
d4=$(rc_ GET apikey:id:t4)
run "$A" "${R[@]}" rotate t4
is "$(rc_ HGET "apikey:key:$d4" expires)" "$soon" \
    "rotate keeps an old expiry sooner than the grace"
rc_ HSET "apikey:key:$d4" deprecated $((t0 - 100)) >/dev/null
run "$A" "${R[@]}" rotate t4
n4=$(printf '%s\n' "$out" | "$A" hash)
is "$(rc_ HGET "apikey:key:$d4" deprecated)" $((t0 - 100)) \
    "a second rotation keeps the first deprecation"
is "$rc:$(rc_ HEXISTS "apikey:key:$n4" deprecated)" "0:0" \
    "the successor of a deprecated key is not deprecated"
run "$A" "${R[@]}" rotate t2 --grace 0 --expires 2030-01-01 \
    --key-prefix rk_
like "$out" '^rk_' "rotate --key-prefix"
n2=$(printf '%s\n' "$out" | "$A" hash)
is "$(rc_ HGET "apikey:key:$n2" expires):$(rc_ HGET "apikey:key:$d2" expires)" \
    "1893456000:$(rc_ HGET "apikey:key:$d2" expires)" \
    "rotate --expires sets the new key's expiry"
if [ "$(rc_ HGET "apikey:key:$d2" expires)" -le "$(date +%s)" ]; then
    pass "--grace 0 expires the old key now"
else
    fail "--grace 0 expires the old key now"
fi

subscribe apikey:events
run "$A" "${R[@]}" delete t3
is "$rc:$(rc_ EXISTS "apikey:key:$d3" apikey:id:t3)" "0:0" \
    "delete removes the record and the id string"
if published "$d3"; then
    pass "delete publishes the digest"
else
    fail "delete publishes the digest"
fi
exits "a deleted id is unknown" 2 "$A" "${R[@]}" show t3
is "$(changes 1)" "$d3" "delete appends its digest to the change log"

subscribe apikey:events
run "$A" "${R[@]}" accept-dataset
is "$rc:$out:$(changes 1)" "0:dataset accepted:*" \
    "accept-dataset appends \"d *\" to the change log"
if published '*'; then
    pass "accept-dataset publishes \"*\" for version-1 readers"
else
    fail "accept-dataset publishes \"*\" for version-1 readers"
fi
is "$(rc_ GET apikey:epoch)" "$epoch" "accept-dataset keeps an existing epoch"
rc_ DEL apikey:epoch >/dev/null
run "$A" "${R[@]}" accept-dataset
like "$rc:$(rc_ GET apikey:epoch)" '^0:[0-9a-f]{32}$' \
    "accept-dataset names a dataset that has no epoch"
if [ "$(rc_ GET apikey:epoch)" != "$epoch" ]; then
    pass "... with a new epoch"
else
    fail "... with a new epoch"
fi
run "$A" "${R[@]}" --json accept-dataset
is "$out" '{"accepted":true}' "accept-dataset --json"


# --- usage -------------------------------------------------------------

h=$(( $(date +%s) / 3600 ))
rc_ SET "apikey:usage:t1:$h" 17 >/dev/null
rc_ SET "apikey:usage:t1:$((h - 2))" 5 >/dev/null
rc_ SET "apikey:usage:t1:$((h - 30))" 1000 >/dev/null
rc_ SET apikey:usage:t1:last 1800000000 >/dev/null
run "$A" "${R[@]}" usage t1
like "$out" "$(date -u -d "@$((h * 3600))" +%Y-%m-%dT%H):00:00Z +17" \
    "usage shows this hour's counter"
like "$out" "total +22" "usage totals the last 24 hours"
like "$out" "last used: 2027-01-15T08:00:00Z" "usage shows the last use"
run "$A" "${R[@]}" --json usage t1 --hours 31
is "$(py "j['total'], len(j['hours']), j['hours'][-1]['hour'], \
j['hours'][0]['requests'], j['last_used']")" \
    "1022 31 $h 1000 1800000000" "usage --json --hours 31"
run "$A" "${R[@]}" usage t2
like "$out" "last used: never" "usage of an unused key"


# --- --json ------------------------------------------------------------

if [ -n "$have_python" ]; then
    run "$A" "${R[@]}" --json create --id j1 --owner 'q"uo\te' \
        --name "$(printf 'caf\xc3\xa9 \xff')"
    if json_ok "$out"; then
        is "$(py "j['id'], j['key'][:7], len(j['digest'])")" \
            "j1 taapit_ 64" "create --json"
        jkey=$(py "j['key']")
        is "$(printf '%s\n' "$jkey" | "$A" hash)" "$(py "j['digest']")" \
            "create --json digest is the key's"
    else
        fail "create --json" "$out"
        fail "create --json digest is the key's"
    fi
    run "$A" "${R[@]}" --json show j1
    if json_ok "$out"; then
        is "$(py "j['owner'], j['active'], j['name'] == 'caf\\xe9 \\ufffd'")" \
            "q\"uo\\te 1 True" "show --json escapes strings"
    else
        fail "show --json escapes strings" "$out"
    fi
    run "$A" "${R[@]}" --json list
    if json_ok "$out"; then
        is "$(py "sorted(r['id'] for r in j if r['id'] in ('t1','t2','j1'))")" \
            "['j1', 't1', 't2']" "list --json"
    else
        fail "list --json" "$out"
    fi
    for c in "revoke j1" "rotate j1" "delete j1"; do
        run "$A" "${R[@]}" --json $c
        if [ "$rc" = 0 ] && json_ok "$out"; then
            pass "$c --json"
        else
            fail "$c --json" "$out"
        fi
    done
    run "$A" --json hash <<<"$jkey"
    if json_ok "$out"; then
        like "$(py "j['digest']")" '^[0-9a-f]{64}$' "hash --json"
    else
        fail "hash --json" "$out"
    fi
else
    for c in create show list revoke rotate delete hash; do
        skip "$c --json" "no python3"
    done
fi

run "$A" "${R[@]}" list
like "$out" $'^ID +OWNER +NAME +ACCESS +ACTIVE +EXPIRES\n' "list has a header"
like "$out" $'\nt1 +alice +CI key +limited +yes +20' "list shows t1"
like "$out" $'\nt2 +- +- +full +no ' "list shows t2 revoked"


# --- the examples: same digest as apikeyctl, same schema ---------------

example() {
    local lang=$1
    shift
    local x=("$@")

    run "${x[@]}" "${R[@]}" issue --owner "$lang" --access limited \
        --grant users:rw --limit 10 --ip 10.0.0.0/8 --expires 1900000000 \
        --id "ex-$lang"
    local k=$out d
    d=$(rc_ GET "apikey:id:ex-$lang")
    is "$rc:$(printf '%s\n' "$k" | "$A" hash)" "0:$d" \
        "$lang issue: apikeyctl hash of its key is the stored digest"
    expect_record "$d" "$lang issue writes the schema" "id=ex-$lang" \
        "owner=$lang" access=limited grants=users:rw expires=1900000000 \
        active=1 limit=10 ips=10.0.0.0/8
    if checksum_ok "$k"; then
        pass "$lang issue: the key's checksum is valid"
    else
        fail "$lang issue: the key's checksum is valid" "$k"
    fi
    is "$(printf '%s\n' "$k" | "${x[@]}" hash)" "$d" \
        "$lang hash equals apikeyctl hash"
    is "$(printf '%s\n' "$k" | "${x[@]}" --hash-secret "$tmp/secret" hash)" \
        "$(printf '%s\n' "$k" | "$A" --hash-secret "$tmp/secret" hash)" \
        "$lang hash --hash-secret equals apikeyctl's"

    run "${x[@]}" "${R[@]}" --hash-secret "$tmp/secret" issue \
        --id "exs-$lang"
    is "$(printf '%s\n' "$out" | "$A" --hash-secret "$tmp/secret" hash)" \
        "$(rc_ GET "apikey:id:exs-$lang")" \
        "$lang issue --hash-secret: the digest matches apikeyctl's"

    run "${x[@]}" "${R[@]}" issue --id "exw-$lang" --limit '1000/h  20/s'
    is "$rc:$(rc_ HGET "apikey:key:$(rc_ GET "apikey:id:exw-$lang")" limit)" \
        "0:20/s 1000/h" "$lang issue --limit writes the terms as apikeyctl"
    exits "$lang issue --limit '5/s 6/s'" 1 "${x[@]}" "${R[@]}" issue \
        --limit '5/s 6/s'

    subscribe apikey:events
    run "${x[@]}" "${R[@]}" revoke "ex-$lang"
    is "$rc:$(rc_ HGET "apikey:key:$d" active)" "0:0" "$lang revoke"
    if published "$d"; then
        pass "$lang revoke publishes"
    else
        fail "$lang revoke publishes"
    fi
    is "$(rc_ --raw XREVRANGE apikey:changes + - COUNT 1 | sed -n 2,3p)" \
        "$(printf 'd\n%s' "$d")" "$lang revoke appends to the change log"
    local ep
    ep=$(rc_ GET apikey:epoch)

    local r0 r1 dep
    r0=$(date +%s)
    run "${x[@]}" "${R[@]}" rotate "ex-$lang" --grace 60
    r1=$(date +%s)
    nd=$(printf '%s\n' "$out" | "$A" hash)
    is "$rc:$(rc_ HGET "apikey:key:$nd" rotated_from)" "0:ex-$lang" \
        "$lang rotate: new record with rotated_from"
    dep=$(rc_ HGET "apikey:key:$d" deprecated)
    if [ -n "$dep" ] && [ "$dep" -ge "$r0" ] && [ "$dep" -le "$r1" ]; then
        pass "$lang rotate: the old key is deprecated at the rotation"
    else
        fail "$lang rotate: the old key is deprecated at the rotation" "$dep"
    fi
    is "$(rc_ HEXISTS "apikey:key:$nd" deprecated)" 0 \
        "$lang rotate: the new key is not deprecated"
    nid=$(rc_ HGET "apikey:key:$nd" id)
    is "$(rc_ GET "apikey:id:$nid")" "$nd" "$lang rotate: new id string"
    is "$(changes 2)" "$(printf '%s\n%s' "$nd" "$d")" \
        "$lang rotate appends both digests to the change log"
    is "$(rc_ GET apikey:epoch)" "$ep" "$lang keeps the epoch"
    rc_ DEL apikey:epoch >/dev/null
    run "${x[@]}" "${R[@]}" issue --id "exe-$lang"
    like "$(rc_ GET apikey:epoch)" '^[0-9a-f]{32}$' \
        "$lang issue names a dataset that has no epoch"
    is "$(changes 1)" "$(rc_ GET "apikey:id:exe-$lang")" \
        "$lang issue appends its digest to the change log"
    oexp=$(rc_ HGET "apikey:key:$d" expires)
    if [ "$oexp" -le $(( $(date +%s) + 60 )) ]; then
        pass "$lang rotate: the old key expires after the grace"
    else
        fail "$lang rotate: the old key expires after the grace" "$oexp"
    fi

    exits "$lang revoke of an unknown id exits 2" 2 \
        "${x[@]}" "${R[@]}" revoke nosuch
    exits "$lang against unreachable Redis exits 3" 3 \
        "${x[@]}" --redis 127.0.0.1:1 revoke x
}

if [ -n "$have_python" ]; then
    example python python3 "$examples/issue_key.py"
else
    skip "python example" "python3 not installed"
fi

if [ -n "$have_node" ] && [ -n "$have_python" ]; then
    example node node "$examples/issue_key.js"
else
    skip "node example" "node (or python3 for the checks) not installed"
fi


# --- import: keys known by their SHA-256 digests (docs/keys.md, 5) -----
# (the module's side, and files of 10,000 lines: t/029-legacy-import.t)

h1=$(printf '%s' imp_key_one | sha256sum | cut -c1-64)
h2=$(printf '%s' imp_key_two | sha256sum | cut -c1-64)
subscribe apikey:events
run "$A" "${R[@]}" import - <<EOF_CSV
digest,id,owner,access,name
$h1,imp-1,acme,read,"One, imported"
$h2,imp-2,acme,limited
EOF_CSV
is "$rc:$out" "0:imported 2, unchanged 0, refused 0" \
    "import from stdin: two records"
expect_record "sha256:$h1" "records under key:sha256:<hex>" \
    id=imp-1 owner=acme access=read "name=One, imported"
is "$(rc_ GET apikey:id:imp-1)" "sha256:$h1" \
    "the id string holds sha256:<hex>"
is "$(changes 2)" "$(printf 'sha256:%s\nsha256:%s' "$h1" "$h2")" \
    "import appends d sha256:<hex> to the change log"
if published "sha256:$h1" "sha256:$h2"; then
    pass "import publishes sha256:<hex>"
else
    fail "import publishes sha256:<hex>" "$(cat "$tmp/sub.out")"
fi
is "$(rc_ GET apikey:legacy-scheme)" sha256 "the key set's digest scheme"

run "$A" "${R[@]}" --json show imp-1
like "$out" "^\\{\"digest\":\"sha256:$h1\",\"id\":\"imp-1\"" \
    "show of an imported key by id"
run "$A" "${R[@]}" revoke imp-2
is "$rc:$(rc_ HGET "apikey:key:sha256:$h2" active):$(changes 1)" \
    "0:0:sha256:$h2" "revoke of an imported key, in the change log"
run "$A" "${R[@]}" import - <<EOF_CSV
$h2,imp-2,acme,limited
EOF_CSV
like "$rc:$out:$err" "^1:imported 0, unchanged 0, refused 1:.*line 1: refused: a different record" \
    "a revoked record is never written over by an import"
exits "import needs a file" 1 "$A" "${R[@]}" import
exits "--pepper-scheme is import's alone" 1 \
    "$A" "${R[@]}" --pepper-scheme sha256 list

echo "1..$n"
[ "$failed" = 0 ]
