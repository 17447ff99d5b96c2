#!/usr/bin/env bash
# `baton store cp` as a daily tool, on s3rver: uploads carry a Content-Type; a second copy either
# way moves nothing (size and ETag, a multipart ETag recomputed from the file); a download killed
# between parts resumes from its record and fetches only what is missing; a partial file of
# another version of the object, and an old "<file>.tmp.<pid>" of a dead process, are cleaned.
set -uo pipefail
BATON="$1"; SRC="$2"
fail() { echo "FAIL: $*"; exit 1; }
T=$(mktemp -d)
source "$SRC/tests/e2e/lib/s3.sh"
trap 'stop_s3; rm -rf "$T"' EXIT
start_s3rver bkt
# 5 MiB parts above 8 MiB: the 21 MiB file goes up in 5 parts and comes down in 5 ranges.
Q="?endpoint=$S3_ENDPOINT&part_size=5MiB&multipart_threshold=8MiB"

mkdir -p "$T/up/sub"
head -c $((21 * 1024 * 1024)) /dev/urandom >"$T/up/big.bin"
echo '{"step": 3}' >"$T/up/sub/state.json"
echo 'hello' >"$T/up/notes.txt"
"$BATON" store cp "$T/up" "s3://bkt/f$Q" 2>"$T/up1.log" || { cat "$T/up1.log"; fail "upload"; }
grep -q "3 files: 3 uploaded" "$T/up1.log" || fail "first upload: $(cat "$T/up1.log")"
type=$(curl -sI "$S3_ENDPOINT/bkt/f/sub/state.json" | tr -d '\r' | grep -i '^content-type:' | cut -d' ' -f2-)
[ "$type" = "application/json" ] || fail "state.json's Content-Type is '$type'"
# (s3rver gives a multipart object the whole file's MD5 as its ETag, not S3's "<md5 of the
# parts' MD5s>-N"; LocalFileMatches' unit test covers that form.)

# The same copy again: nothing moves.
"$BATON" store cp "$T/up" "s3://bkt/f$Q" 2>"$T/up2.log" || { cat "$T/up2.log"; fail "upload again"; }
grep -q "3 files: 0 uploaded (0 B), 3 unchanged" "$T/up2.log" || fail "second upload: $(cat "$T/up2.log")"
echo 'changed' >"$T/up/notes.txt"
"$BATON" store cp "$T/up" "s3://bkt/f$Q" 2>"$T/up3.log" || fail "upload a change"
grep -q "3 files: 1 uploaded" "$T/up3.log" || fail "a changed file: $(cat "$T/up3.log")"

"$BATON" store cp "s3://bkt/f$Q" "$T/down" 2>"$T/d1.log" || { cat "$T/d1.log"; fail "download"; }
for f in big.bin sub/state.json notes.txt; do cmp -s "$T/up/$f" "$T/down/$f" || fail "$f differs"; done
"$BATON" store cp "s3://bkt/f$Q" "$T/down" 2>"$T/d2.log" || fail "download again"
grep -q "3 objects: 0 downloaded (0 B moved), 3 unchanged" "$T/d2.log" || fail "second download: $(cat "$T/d2.log")"

# Killed after its 3rd part is on disk and recorded: the rerun fetches the other 2.
rm "$T/down/big.bin"
BATON_KILL_AT=store.download_part:3 "$BATON" store cp "s3://bkt/f/big.bin$Q" "$T/down/big.bin" \
  >"$T/k.log" 2>&1
[ $? -eq 137 ] || fail "the kill point did not fire: $(cat "$T/k.log")"
[ -f "$T/down/big.bin.partial" ] && [ -f "$T/down/big.bin.partial.json" ] || fail "no partial download left"
[ ! -f "$T/down/big.bin" ] || fail "a killed download left the final file"
"$BATON" store cp "s3://bkt/f/big.bin$Q" "$T/down/big.bin" 2>"$T/r.log" || { cat "$T/r.log"; fail "resume"; }
grep -q "resuming $T/down/big.bin: 15.7 MB of 22.0 MB already downloaded" "$T/r.log" \
  || fail "resume message: $(cat "$T/r.log")"
grep -q "1 object: 1 downloaded (6.3 MB moved)" "$T/r.log" || fail "resumed bytes: $(cat "$T/r.log")"
cmp -s "$T/up/big.bin" "$T/down/big.bin" || fail "the resumed file differs"
[ ! -e "$T/down/big.bin.partial" ] && [ ! -e "$T/down/big.bin.partial.json" ] || fail "partial files left"

# A record of another version is stale: the download starts over, and is right.
rm "$T/down/big.bin"
head -c 1000 /dev/zero >"$T/down/big.bin.partial"
echo '{"format":"baton-partial-download","etag":"\"0123\"","size":22020096,"part_size":5242880,"parts":[0,1,2,3]}' \
  >"$T/down/big.bin.partial.json"
/bin/true & dead=$!; wait $dead  # a pid whose process is gone
echo junk >"$T/down/big.bin.tmp.$dead"
"$BATON" store cp "s3://bkt/f/big.bin$Q" "$T/down/big.bin" 2>"$T/s.log" || { cat "$T/s.log"; fail "stale"; }
grep -q resuming "$T/s.log" && fail "resumed from a record of another version: $(cat "$T/s.log")"
cmp -s "$T/up/big.bin" "$T/down/big.bin" || fail "the file after a stale partial differs"
[ ! -e "$T/down/big.bin.tmp.$dead" ] || fail "the dead process's temp file is still there"
# Filters, in awscli's order (later ones decide), --dryrun, and rm.
out=$("$BATON" store cp --exclude '*' --include '*.json' "s3://bkt/f$Q" "$T/sel" --dryrun 2>&1) || fail "dryrun: $out"
[ "$out" = "(dryrun) download: s3://bkt/f/sub/state.json -> $T/sel/sub/state.json" ] || fail "dryrun: $out"
[ ! -e "$T/sel" ] || fail "--dryrun wrote $T/sel"
"$BATON" store cp "s3://bkt/f$Q" "$T/sel" --exclude 'sub/*' --exclude '*.bin' 2>"$T/sel.log" || fail "filtered cp"
[ "$(cd "$T/sel" && find . -type f | sort | tr '\n' ' ')" = "./notes.txt " ] || fail "filtered copy: $(find "$T/sel")"
grep -q "2 left out by the filters" "$T/sel.log" || fail "filter count: $(cat "$T/sel.log")"
out=$("$BATON" store rm "s3://bkt/f$Q" 2>&1) && fail "rm of a folder without --recursive"
grep -q "3 objects are under it; add --recursive" <<<"$out" || fail "rm folder: $out"
"$BATON" store rm "s3://bkt/f$Q" --recursive --exclude big.bin 2>"$T/rm.log" || fail "rm: $(cat "$T/rm.log")"
grep -q "2 objects deleted" "$T/rm.log" || fail "rm count: $(cat "$T/rm.log")"
[ "$("$BATON" store ls "s3://bkt/f$Q" 2>/dev/null | awk '{print $2}')" = "big.bin" ] || fail "rm left the wrong objects"
"$BATON" store rm "s3://bkt/f/big.bin$Q" 2>/dev/null || fail "rm of one object"
out=$("$BATON" store rm "s3://bkt/f/big.bin$Q" 2>&1) && fail "rm of a missing object succeeded"
# One file of a file:// store is one object (its folder is the store), as one S3 object is.
"$BATON" store cp "file://$T/up/notes.txt" "$T/one.txt" 2>"$T/one.log" || fail "file:// one file: $(cat "$T/one.log")"
cmp -s "$T/up/notes.txt" "$T/one.txt" || fail "file:// one file: wrong bytes"
grep -q resuming "$T/one.log" && fail "a whole copy from a file:// store said it resumed: $(cat "$T/one.log")"
out=$("$BATON" store cp "file://$T/up/none.txt" "$T/none.txt" 2>&1) && fail "a missing file:// file was copied"
grep -q "no such object or folder" <<<"$out" || fail "missing file:// file: $out"
"$BATON" store rm "file://$T/one.txt" 2>/dev/null || fail "rm of one file:// file"
[ ! -e "$T/one.txt" ] || fail "store rm left the file"
echo "e2e store cli: all checks passed"
