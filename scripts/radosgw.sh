#!/usr/bin/env bash
# A throwaway single-node Ceph cluster with a RADOS Gateway, for tests that need an S3 server
# which really checks SigV4 signatures and S3's rules (s3rver checks neither).
#
#   scripts/radosgw.sh start DIR [PORT]   monitor + one in-memory OSD + radosgw on 127.0.0.1:PORT
#                                         (a free port when none is given), an S3 user and a
#                                         bucket; writes DIR/env (shell lines, see below)
#   scripts/radosgw.sh stop DIR           stops every daemon that `start DIR` started
#
# Everything lives under DIR (config, mon store, logs, admin sockets, pid files); nothing is
# written to /etc/ceph or /var/lib/ceph and systemd is not used. Runs as root or as any user that
# can run the Ceph binaries (Debian 12: apt-get install ceph-mon ceph-osd radosgw, which
# scripts/setup.sh --test-servers does). cephx is off: the daemons only listen on 127.0.0.1 and
# the cluster lives for one test run; S3 requests are still authenticated by radosgw.
# DIR/env holds BATON_TEST_S3_ENDPOINT, BATON_TEST_S3_BUCKET, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY and AWS_REGION. Progress goes to stderr; on failure the tails of the
# daemon logs are printed, the daemons are stopped and the exit status is 1.
set -euo pipefail

usage() { echo "usage: $0 start DIR [PORT] | stop DIR" >&2; exit 2; }
log() { echo "radosgw.sh: $*" >&2; }

# A TCP port on 127.0.0.1 that nothing listens on, below Linux's ephemeral range (32768+) so
# that outgoing connections cannot take it between this check and the daemon's bind.
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((10000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

# run/NAME.pid is written by spawn, run/NAME.daemon-pid by the daemon itself (the same process,
# unless setsid had to fork); both are killed.
stop_daemons() {
  local dir=$1 f pid live
  for f in "$dir"/run/*pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill -TERM "$pid" 2>/dev/null || true
  done
  # Give them 10 s to exit on their own, then kill what is left.
  for _ in $(seq 100); do
    live=0
    for f in "$dir"/run/*pid; do
      [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && live=1
    done
    [ $live = 0 ] && break
    sleep 0.1
  done
  for f in "$dir"/run/*pid; do
    [ -f "$f" ] || continue
    kill -KILL "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
}

fail() {
  failed=1
  log "FAILED: $*"
  local f
  for f in "$DIR"/log/*.log "$DIR"/log/*.out; do
    [ -s "$f" ] || continue
    echo "----- tail of $f" >&2
    tail -n 25 "$f" >&2
  done
  stop_daemons "$DIR"
  exit 1
}

# Runs a daemon detached from this shell (its own session, output to a file), records its pid.
spawn() {
  local name=$1; shift
  setsid "$@" -f </dev/null >"$DIR/log/$name.out" 2>&1 &
  echo $! >"$DIR/run/$name.pid"
}

# Fails when a daemon that spawn started has exited.
alive() {
  local f
  for f in "$DIR"/run/*.pid; do
    kill -0 "$(cat "$f")" 2>/dev/null || fail "$(basename "$f" .pid) exited"
  done
}

# Waits up to $1 seconds for the command after it to succeed, while the daemons stay alive.
wait_for() {
  local secs=$1; shift
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    alive
    [ $SECONDS -lt $end ] || return 1
    sleep 0.2
  done
}

s3() {  # s3 METHOD PATH [curl args...]: one SigV4-signed request to the gateway
  local method=$1 path=$2; shift 2
  curl -sS --max-time 30 -o /dev/null -w '%{http_code}' -X "$method" \
    --aws-sigv4 "aws:amz:$REGION:s3" --user "$ACCESS_KEY:$SECRET_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@" "http://127.0.0.1:$PORT$path"
}

[ $# -ge 2 ] || usage
CMD=$1; DIR=$2
case "$CMD" in
  stop)
    [ -d "$DIR" ] || { log "$DIR: no such folder"; exit 1; }
    DIR=$(cd "$DIR" && pwd)
    stop_daemons "$DIR"
    log "stopped the cluster in $DIR"
    exit 0 ;;
  start) ;;
  *) usage ;;
esac

for bin in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool uuidgen curl; do
  command -v "$bin" >/dev/null || {
    log "$bin not found: install the test servers first (scripts/setup.sh --test-servers)"
    exit 1
  }
done
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
if [ -e "$DIR/ceph.conf" ]; then
  log "$DIR already holds a cluster; stop it and use a fresh folder"
  exit 1
fi
# Any command that fails without a fail() of its own (set -e) still shows logs and stops daemons.
failed=0
trap 'rc=$?; [ $rc = 0 ] || [ $failed = 1 ] || fail "unexpected error (exit status $rc)"' EXIT
PORT=${3:-$(free_port)}
MON_PORT=$(free_port)
REGION=default  # the zonegroup's name; radosgw signs and checks with the scope's region
BUCKET=baton-test
started=$SECONDS
mkdir -p "$DIR"/{mon,osd/0,log,run,crash,tmp}
export CEPH_CONF="$DIR/ceph.conf"

# One monitor, one OSD in memory (memstore: no mkfs of a block device, no fsync), no manager:
# radosgw needs none. Pools of size 1 and few placement groups, so they become active at once.
cat >"$CEPH_CONF" <<EOF
[global]
fsid = $(uuidgen)
mon host = v2:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
# Daemons ask for an encrypted link to the monitor by default, which needs cephx.
ms mon client mode = crc secure
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.daemon-pid
log file = $DIR/log/\$name.log
crash dir = $DIR/crash
tmp dir = $DIR/tmp
log to stderr = false
err to stderr = true
mon cluster log to file = false
mon data = $DIR/mon/\$name
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
[mon]
# Each pool radosgw creates is an osdmap change; proposing changes every 50 ms instead of every
# second brings the gateway up in about 3 s instead of 16.
paxos propose interval = 0.05
paxos min wait = 0.01
mon data avail crit = 1
mon data avail warn = 2
[osd]
osd data = $DIR/osd/\$id
osd objectstore = memstore
memstore device bytes = 4294967296
osd crush update on start = true
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw data = $DIR/rgw
rgw dynamic resharding = false
rgw enable usage log = false
rgw thread pool size = 64
EOF

log "monitor on 127.0.0.1:$MON_PORT"
monmaptool --create --fsid "$(sed -n 's/^fsid = //p' "$CEPH_CONF")" \
  --addv a "[v2:127.0.0.1:$MON_PORT]" "$DIR/tmp/monmap" >"$DIR/log/monmaptool.out" 2>&1 \
  || fail "monmaptool"
ceph-mon --mkfs -i a --monmap "$DIR/tmp/monmap" >"$DIR/log/mon-mkfs.out" 2>&1 \
  || fail "ceph-mon --mkfs"
spawn mon.a ceph-mon -i a
wait_for 30 ceph --connect-timeout 5 mon stat || fail "monitor did not answer in 30 s"

log "OSD (memstore)"
OSD_UUID=$(uuidgen)
id=$(ceph osd new "$OSD_UUID" 2>"$DIR/log/osd-new.out") || fail "ceph osd new"
[ "$id" = 0 ] || fail "ceph osd new gave id '$id', want 0"
ceph-osd -i 0 --mkfs --osd-uuid "$OSD_UUID" >"$DIR/log/osd-mkfs.out" 2>&1 || fail "ceph-osd --mkfs"
spawn osd.0 ceph-osd -i 0
osd_up() { ceph osd dump 2>/dev/null | grep -q '^osd\.0 up *in'; }
wait_for 60 osd_up || fail "osd.0 not up in 60 s"

log "radosgw on 127.0.0.1:$PORT"
mkdir -p "$DIR/rgw"
spawn rgw radosgw -n client.rgw
gateway_up() { curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$PORT/"; }
wait_for 120 gateway_up || fail "radosgw did not answer on port $PORT in 120 s"

# Shaped like AWS keys: 20 upper-case characters, a 40-character secret.
ACCESS_KEY=$(od -An -tx1 -N10 /dev/urandom | tr -d ' \n' | tr a-f A-F)
SECRET_KEY=$(head -c 30 /dev/urandom | base64 | tr '+/' 'xy')
[ ${#ACCESS_KEY} = 20 ] && [ ${#SECRET_KEY} = 40 ] || fail "key generation"
radosgw-admin user create --uid=baton --display-name="Baton tests" \
  --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >"$DIR/log/user-create.out" 2>&1 \
  || fail "radosgw-admin user create"
code=$(s3 PUT "/$BUCKET") || fail "PUT /$BUCKET: curl failed"
[ "$code" = 200 ] || fail "PUT /$BUCKET: HTTP $code"
code=$(s3 HEAD "/$BUCKET" -I) || true
[ "$code" = 200 ] || fail "HEAD /$BUCKET: HTTP $code"

cat >"$DIR/env" <<EOF
BATON_TEST_S3_ENDPOINT=http://127.0.0.1:$PORT
BATON_TEST_S3_BUCKET=$BUCKET
AWS_ACCESS_KEY_ID=$ACCESS_KEY
AWS_SECRET_ACCESS_KEY=$SECRET_KEY
AWS_REGION=$REGION
EOF
log "ready in $((SECONDS - started)) s: http://127.0.0.1:$PORT, bucket $BUCKET, settings in $DIR/env"
