#!/usr/bin/env bash
# The fault-injecting S3 proxy (tools/npm/s3_fault_proxy.js) in front of s3rver: with no faults
# it is transparent (bytes, headers, streaming), each fault kind does what it says when
# scheduled through the control API, a probabilistic SPEC injects about the right share of
# faults, only for the methods it names, and the same seed gives the same faults.
set -uo pipefail
BATON="$1"; SRC="$2"
fail() { printf 'FAIL: %b\n' "$*"; exit 1; }
NPM="$SRC/tools/npm"
[ -x "$NPM/node_modules/.bin/s3rver" ] || fail "s3rver not installed in $NPM: run scripts/setup.sh"
command -v curl >/dev/null || fail "curl not installed"
T=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

# start NAME CMD...: runs CMD in the background (stdout to $T/NAME.out, stderr to $T/NAME.err)
# and sets ADDR to the host:port of its "... listening on HOST:PORT" line.
start() {
  local name=$1; shift
  "$@" >"$T/$name.out" 2>"$T/$name.err" &
  pids+=($!)
  local pid=$!
  for _ in $(seq 100); do
    ADDR=$(grep -o 'listening on 127\.0\.0\.1:[0-9]*' "$T/$name.out" | head -1 | cut -d' ' -f3)
    [ -n "$ADDR" ] && return 0
    kill -0 $pid 2>/dev/null || fail "$name exited: $(cat "$T/$name.err")"
    sleep 0.1
  done
  fail "$name did not say where it listens: $(cat "$T/$name.out" "$T/$name.err")"
}
PROXY=(node "$NPM/s3_fault_proxy.js" --listen 0)

mkdir -p "$T/s3rver"
start s3rver env NODE_OPTIONS=--openssl-legacy-provider "$NPM/node_modules/.bin/s3rver" \
  -d "$T/s3rver" -a 127.0.0.1 -p 0 --configure-bucket bkt
S3=$ADDR
start proxy "${PROXY[@]}" --upstream "http://$S3"
P=$ADDR
echo "s3rver on $S3, proxy on $P"

# s3 ADDR METHOD KEY [curl args]: one SigV4-signed request (s3rver's default keys); prints
# "HTTP_CODE BYTES_RECEIVED CURL_EXIT", the body goes to $T/body.
s3() {
  local addr=$1 method=$2 key=$3; shift 3
  local out rc
  out=$(curl -sS -o "$T/body" -w '%{http_code} %{size_download}' -X "$method" \
    --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@" "http://$addr/bkt/$key" 2>"$T/curl.err")
  rc=$?
  echo "$out $rc"
}
ctl() { curl -sS -X "$1" "http://$P/__fault/$2" "${@:3}"; }
# stat_of EXPR: a JavaScript expression over the proxy's stats object s.
stat_of() {
  ctl GET stats \
    | node -e 'const s = JSON.parse(require("fs").readFileSync(0)); console.log(eval(process.argv[1]))' "$1"
}
upstream_has() { [ "$(s3 "$S3" HEAD "$1" -I | cut -d' ' -f1)" = 200 ]; }

# --- faults off: a transparent proxy ---------------------------------------------------------
# 96 MiB up and down; streamed, not buffered: the proxy's peak memory grows by less than a body.
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
hwm_before=$(hwm "${pids[1]}")
head -c $((96 << 20)) /dev/urandom >"$T/big"
read -r code _ rc <<<"$(s3 "$P" PUT big --data-binary @"$T/big")"
[ "$code $rc" = "200 0" ] || fail "PUT 96 MiB through the proxy: $code (curl $rc) $(cat "$T/curl.err")"
read -r code size rc <<<"$(s3 "$P" GET big)"
[ "$code $rc" = "200 0" ] && cmp -s "$T/body" "$T/big" || fail "GET through the proxy: not the bytes put"
s3 "$S3" GET big >/dev/null && cmp -s "$T/body" "$T/big" || fail "GET from s3rver: not the bytes put"
growth=$(( ($(hwm "${pids[1]}") - hwm_before) / 1024 ))
echo "proxy peak memory grew by $growth MiB while passing 2 x 96 MiB"
[ "$growth" -lt 80 ] || fail "proxy peak memory grew by $growth MiB: does it buffer bodies?"
[ "$(stat_of s.requests) $(stat_of s.forwarded) $(stat_of 'Object.keys(s.faults).length')" = "2 2 0" ] \
  || fail "stats without faults: $(ctl GET stats)"

# Method, path, query, header names, values, order and duplicates, and body arrive unchanged
# (an echo server shows what it got; the proxy may only add `Connection: keep-alive`).
cat >"$T/echo.js" <<'EOF'
const http = require('http');
const crypto = require('crypto');
http.createServer((req, res) => {
  const hash = crypto.createHash('sha256');
  req.on('data', (c) => hash.update(c));
  req.on('end', () => {
    const answer = JSON.stringify([req.method, req.url, req.rawHeaders.join('|'), hash.digest('hex')]);
    if (req.headers['x-chunked'] === undefined) return res.end(answer + '\n');
    res.write(answer);  // two writes: a chunked answer, of no declared length
    res.end('\n');
  });
}).listen(0, '127.0.0.1', function() {
  console.log(`echo listening on 127.0.0.1:${this.address().port}`);
});
EOF
start echo node "$T/echo.js"
ECHO=$ADDR
start echo_proxy "${PROXY[@]}" --upstream "http://$ECHO"
EP=$ADDR
head -c 3000000 /dev/urandom >"$T/body3m"
echo_req() {
  curl -sS -X PUT -H 'Host: s3.example.test' -H 'X-Amz-Meta-MiXed:  two  spaces' -H 'x-dup: 1' \
    -H 'X-Dup: 2' -H "Authorization: AWS4-HMAC-SHA256 Credential=K/20250101/us-east-1/s3/aws4_request,\
 SignedHeaders=host, Signature=00" \
    --data-binary @"$T/body3m" "http://$1/bkt/a%20b/c~d?partNumber=1&uploadId=x%2By"
}
direct=$(echo_req "$ECHO") || fail "echo server"
proxied=$(echo_req "$EP") || fail "echo through the proxy"
[ "${proxied/|Connection|keep-alive\"/\"}" = "$direct" ] \
  || fail "the proxy changed the request:\n direct:  $direct\n proxied: $proxied"

# --- each fault kind, scheduled -------------------------------------------------------------
head -c 4000000 /dev/urandom >"$T/obj"
ctl POST reset >/dev/null
ctl POST 'next?fault=drop' >/dev/null
read -r code _ rc <<<"$(s3 "$P" PUT dropped --data-binary @"$T/obj")"
[ "$rc" != 0 ] && [ "$code" != 200 ] || fail "drop: the PUT got $code"
upstream_has dropped && fail "drop: the PUT reached s3rver"

ctl POST 'next?fault=drop-after' >/dev/null
read -r code _ rc <<<"$(s3 "$P" PUT applied --data-binary @"$T/obj")"
[ "$rc" = 52 ] || fail "drop-after: curl exit $rc ($code), want 52 (empty reply)"
upstream_has applied || fail "drop-after: the PUT did not reach s3rver"

ctl POST 'next?fault=500' >/dev/null
read -r code _ rc <<<"$(s3 "$P" PUT e500 --data-binary @"$T/obj")"
[ "$code" = 500 ] && grep -q '<Code>InternalError</Code>' "$T/body" || fail "500: $code $(cat "$T/body")"
ctl POST 'next?fault=503&count=2' >/dev/null
for i in 1 2; do
  read -r code _ rc <<<"$(s3 "$P" GET big)"
  [ "$code" = 503 ] && grep -q '<Code>SlowDown</Code>' "$T/body" || fail "503 ($i): $code"
done
read -r code _ rc <<<"$(s3 "$P" GET applied)"
[ "$code" = 200 ] && cmp -s "$T/body" "$T/obj" || fail "after count=2 faults the third request failed: $code"
upstream_has e500 && fail "500: the PUT reached s3rver"

ctl POST 'next?fault=truncate' >/dev/null
read -r code size rc <<<"$(s3 "$P" GET applied -D "$T/headers")"
[ "$code $rc" = "200 18" ] || fail "truncate: $code, curl exit $rc; want 200 and 18 (partial body)"
grep -qi '^Content-Length: 4000000' "$T/headers" || fail "truncate: not the full Content-Length"
[ "$size" = 2000000 ] && cmp -s "$T/body" <(head -c 2000000 "$T/obj") \
  || fail "truncate: got $size bytes, want the first 2000000"

# An answer of undeclared length (chunked) is cut in the middle too.
curl -sS -X POST "http://$EP/__fault/next?fault=truncate" >/dev/null
curl -sS -H 'x-chunked: 1' "http://$EP/chunked" >/dev/null 2>&1
rc=$?
[ $rc = 18 ] || fail "truncate of a chunked answer: curl exit $rc, want 18"
grep -q 'truncate ([0-9]* of [0-9]* body bytes, length not declared)' "$T/echo_proxy.err" \
  || fail "truncate of a chunked answer: $(cat "$T/echo_proxy.err")"

ctl POST 'next?fault=reset-upload' >/dev/null
read -r code _ rc <<<"$(s3 "$P" PUT reset --data-binary @"$T/obj")"
[ "$rc" != 0 ] || fail "reset-upload: the PUT succeeded ($code)"
grep -q "reset-upload (after [0-9]* of 4000000 body bytes)" "$T/proxy.err" || fail "reset-upload log line"
upstream_has reset && fail "reset-upload: the PUT reached s3rver"

ctl POST 'next?fault=delay:800' >/dev/null
t=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' --aws-sigv4 "aws:amz:us-east-1:s3" \
  --user S3RVER:S3RVER -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "http://$P/bkt/applied")
[ "${t% *}" = 200 ] && awk -v s="${t#* }" 'BEGIN { exit !(s >= 0.8) }' || fail "delay:800: $t"

# Restricted by method: a scheduled PUT fault lets GETs through.
ctl POST 'next?fault=503&method=PUT' >/dev/null
[ "$(s3 "$P" GET applied | cut -d' ' -f1)" = 200 ] || fail "method=PUT fault hit a GET"
[ "$(s3 "$P" PUT x --data-binary x | cut -d' ' -f1)" = 503 ] || fail "method=PUT fault missed the PUT"

stats=$(ctl GET stats)
for kind in drop drop-after 500 503 truncate reset-upload delay:800; do
  want=1; [ $kind = 503 ] && want=3
  [ "$(stat_of "s.faults['$kind']")" = $want ] || fail "stats: $kind != $want: $stats"
done
for kind in drop drop-after 500 503 truncate reset-upload 'delay 800'; do
  grep -q "^fault-proxy: #[0-9]* [A-Z]* /bkt/[^ ]* -> $kind" "$T/proxy.err" || fail "no log line for $kind"
done

# --- bad control requests --------------------------------------------------------------------
for spec in 'bogus=0.1' 'drop=0.7,500=0.5' 'drop=2' 'drop'; do
  [ "$(ctl POST spec --data-binary "$spec" -o /dev/null -w '%{http_code}')" = 400 ] \
    || fail "spec '$spec' accepted"
done
[ "$(ctl POST 'next?fault=nope' -o /dev/null -w '%{http_code}')" = 400 ] || fail "fault=nope accepted"
[ "$(ctl GET nope -o /dev/null -w '%{http_code}')" = 404 ] || fail "unknown control path"

# --- a probabilistic SPEC: the right share, only for its methods, reproducible ---------------
s3 "$S3" PUT small --data-binary hello >/dev/null
run_gets() {  # 60 GETs and 5 PUTs through $1; prints the 65 status codes
  local i
  for i in $(seq 60); do s3 "$1" GET small | cut -d' ' -f1; done
  for i in $(seq 5); do s3 "$1" PUT small --data-binary hello | cut -d' ' -f1; done
}
[ "$(ctl POST spec --data-binary 'GET:500=0.3, GET:503=0.2')" ] || fail "set spec"
ctl POST 'reset?seed=7' >/dev/null
first=$(run_gets "$P" | tr '\n' ' ')
n500=$(grep -o 500 <<<"$first" | wc -l); n503=$(grep -o 503 <<<"$first" | wc -l)
echo "GET:500=0.3,GET:503=0.2 over 60 GETs: $n500 x 500, $n503 x 503"
[ "$n500" -ge 7 ] && [ "$n500" -le 30 ] && [ "$n503" -ge 3 ] && [ "$n503" -le 22 ] \
  || fail "fault shares far from the SPEC: $first"
[ "$(tr ' ' '\n' <<<"$first" | tail -6 | tr -d '\n')" = 200200200200200 ] \
  || fail "GET-only faults hit a PUT: $first"
[ "$(stat_of 's.faults["500"]') $(stat_of 's.faults["503"]')" = "$n500 $n503" ] \
  || fail "stats: $(ctl GET stats)"
ctl POST 'reset?seed=7' >/dev/null
again=$(run_gets "$P" | tr '\n' ' ')
[ "$again" = "$first" ] || fail "same seed, other faults:\n $first\n $again"
ctl POST 'reset?seed=8' >/dev/null
other=$(run_gets "$P" | tr '\n' ' ')
[ "$other" != "$first" ] || fail "seed 8 gave the faults of seed 7"
# The same SPEC and seed on the command line give the same faults.
start proxy2 "${PROXY[@]}" --upstream "http://$S3" --seed 7 --faults 'GET:500=0.3,GET:503=0.2'
[ "$(run_gets "$ADDR" | tr '\n' ' ')" = "$first" ] || fail "--seed 7 --faults: other faults"
# Faults off again: transparent.
ctl POST spec --data-binary '' >/dev/null
read -r code _ rc <<<"$(s3 "$P" GET big)"
[ "$code $rc" = "200 0" ] && cmp -s "$T/body" "$T/big" || fail "spec '' did not switch faults off"
echo "e2e fault_proxy: all checks passed"
