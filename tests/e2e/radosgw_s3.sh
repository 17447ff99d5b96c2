#!/usr/bin/env bash
# The S3 client against Ceph's RADOS Gateway, a server that checks SigV4 signatures, payload
# hashes and S3's multipart rules (s3rver checks none of them): starts a throwaway cluster with
# scripts/radosgw.sh, proves with curl that it is that strict, then runs the S3 gtest suite with
# the external-server settings, and proves from the gateway's access log that the suite's
# requests reached it. Not installed or not starting is a failure, not a skip: scripts/test.sh
# installs the packages (scripts/setup.sh --test-servers).
set -uo pipefail
BATON="$1"; SRC="$2"
TESTS="$(dirname "$BATON")/baton_tests"
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$TESTS" ] || fail "$TESTS not built"
for bin in ceph-mon ceph-osd radosgw radosgw-admin curl; do
  command -v "$bin" >/dev/null \
    || fail "$bin not installed: run scripts/setup.sh --test-servers (scripts/test.sh does)"
done
T=$(mktemp -d)
trap 'bash "$SRC/scripts/radosgw.sh" stop "$T/rgw" >/dev/null 2>&1; rm -rf "$T"' EXIT
start=$SECONDS
bash "$SRC/scripts/radosgw.sh" start "$T/rgw" || fail "radosgw did not start (daemon logs above)"
echo "radosgw up in $((SECONDS - start)) s"
set -a; . "$T/rgw/env"; set +a
for v in BATON_TEST_S3_ENDPOINT BATON_TEST_S3_BUCKET AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY \
         AWS_REGION; do
  [ -n "${!v:-}" ] || fail "$T/rgw/env does not set $v"
done
URL="$BATON_TEST_S3_ENDPOINT/$BATON_TEST_S3_BUCKET"
RGW_LOG="$T/rgw/log/client.rgw.log"

# s3 SECRET METHOD PATH [curl args]: prints the HTTP status; the body goes to $T/body.
s3() {
  local secret=$1 method=$2 path=$3; shift 3
  curl -sS -o "$T/body" -w '%{http_code}' -X "$method" --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
    --user "$AWS_ACCESS_KEY_ID:$secret" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@" "$URL/$path"
}
ok() { s3 "$AWS_SECRET_ACCESS_KEY" "$@"; }

# The server is strict: a signed round trip works, a wrong secret and a wrong payload hash do not,
# and a multipart upload with a small part that is not the last one cannot be completed.
head -c 300000 /dev/urandom >"$T/obj"
[ "$(ok PUT smoke/obj --data-binary @"$T/obj")" = 200 ] || fail "signed PUT: $(cat "$T/body")"
[ "$(ok GET smoke/obj)" = 200 ] && cmp -s "$T/body" "$T/obj" || fail "signed GET: not the bytes put"
[ "$(s3 "x$AWS_SECRET_ACCESS_KEY" GET smoke/obj)" = 403 ] || fail "a wrong secret was accepted"
grep -q SignatureDoesNotMatch "$T/body" || fail "wrong secret: $(cat "$T/body")"
[ "$(curl -sS -o /dev/null -w '%{http_code}' "$URL/smoke/obj")" = 403 ] || fail "anonymous GET allowed"
code=$(curl -sS -o "$T/body" -w '%{http_code}' -X PUT --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
  --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" --data-binary hello \
  -H "x-amz-content-sha256: $(printf other | sha256sum | cut -d' ' -f1)" "$URL/smoke/hash")
[ "$code" = 400 ] && grep -q XAmzContentSHA256Mismatch "$T/body" \
  || fail "a wrong payload hash was accepted: $code $(cat "$T/body")"
# (curl 7.88 signs a bare `?uploads` wrongly; `uploads=` is the same request, canonically.)
[ "$(ok POST 'smoke/mp?uploads=')" = 200 ] || fail "initiate multipart: $(cat "$T/body")"
upload=$(grep -o '<UploadId>[^<]*' "$T/body" | cut -d'>' -f2)
[ -n "$upload" ] || fail "no UploadId: $(cat "$T/body")"
head -c 1048576 /dev/urandom >"$T/part"
parts=""
for n in 1 2; do
  [ "$(ok PUT "smoke/mp?partNumber=$n&uploadId=$upload" --data-binary @"$T/part" -D "$T/hdr")" = 200 ] \
    || fail "upload part $n: $(cat "$T/body")"
  etag=$(tr -d '\r' <"$T/hdr" | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
  parts+="<Part><PartNumber>$n</PartNumber><ETag>$etag</ETag></Part>"
done
[ "$(ok POST "smoke/mp?uploadId=$upload" \
  --data-binary "<CompleteMultipartUpload>$parts</CompleteMultipartUpload>")" = 400 ] \
  && grep -q EntityTooSmall "$T/body" || fail "a 1 MiB first part was accepted: $(cat "$T/body")"
ok DELETE "smoke/mp?uploadId=$upload" >/dev/null
echo "radosgw checks signatures, payload hashes and the 5 MiB minimum part size"

# The gtest suite with the external-server instance switched on: it must run, not skip, and its
# requests must show up in the gateway's access log (where this script's own requests, made with
# the curl tool, are told apart by their User-Agent).
"$TESTS" --gtest_filter='*S3*' --gtest_color=no >"$T/gtest.out" 2>&1
rc=$?
cat "$T/gtest.out"
[ $rc -eq 0 ] || fail "baton_tests --gtest_filter='*S3*' against radosgw exited $rc"
grep -q '^\[  PASSED  \] [1-9]' "$T/gtest.out" || fail "no S3 test ran"
# Every instance for the external server must run (the s3rver instance of a test may skip
# where s3rver lacks a feature, e.g. conditional PUT).
if grep -q '^\[  SKIPPED \] .*/external' "$T/gtest.out"; then
  fail "S3 tests skipped although the external server was configured:" \
    "$(grep '^\[  SKIPPED \] .*/external' "$T/gtest.out" | head -5)"
fi
grep -q '^\[       OK \] S3/S3StoreTest\..*/external' "$T/gtest.out" || fail "no external S3 test ran"
ceph --admin-daemon "$T/rgw/run/client.rgw.asok" log flush >/dev/null 2>&1 || fail "rgw log flush"
grep ' beast: ' "$RGW_LOG" | grep -v '"curl/[0-9.]*" - latency' >"$T/requests"
served=$(grep -cE ' - baton \[.*" [23][0-9][0-9] ' "$T/requests")
echo "radosgw served $served authenticated request(s) to the suite; by method and status:"
sed -nE 's/.*"([A-Z]+) [^ ]* HTTP\/1\.[01]" ([0-9]+) .*/\1 \2/p' "$T/requests" | sort | uniq -c
[ "$served" -ge 5 ] || fail "the S3 suite sent only $served successful request(s) to radosgw:" \
  "did its external-server instance run?"
echo "e2e radosgw_s3: all checks passed"
