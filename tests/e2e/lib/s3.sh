# Sourced by e2e scripts: starts s3rver (and the fault-injecting proxy) on free loopback ports.
# The caller sets SRC (the repository) and T (a scratch folder), and kills "${S3_PIDS[@]}" on
# exit. s3rver accepts the access key S3RVER with the secret S3RVER.
S3_PIDS=()
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3
export AWS_EC2_METADATA_DISABLED=true

# wait_for_line FILE PATTERN: the first match of PATTERN (an ERE) in FILE, within 20 s.
wait_for_line() {
  local i
  for i in $(seq 1 200); do
    if grep -Eo "$2" "$1" 2>/dev/null | head -1 | grep -q .; then
      grep -Eo "$2" "$1" | head -1
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# start_s3rver BUCKET: sets S3_PORT and S3_ENDPOINT.
start_s3rver() {
  mkdir -p "$T/s3rver"
  NODE_OPTIONS=--openssl-legacy-provider node "$SRC/tools/npm/node_modules/s3rver/bin/s3rver.js" \
    -d "$T/s3rver" -a 127.0.0.1 -p 0 --silent --configure-bucket "$1" >"$T/s3rver.log" 2>&1 &
  S3_PIDS+=($!)
  S3_PORT=$(wait_for_line "$T/s3rver.log" 'listening on 127\.0\.0\.1:[0-9]+' | grep -Eo '[0-9]+$') \
    || { cat "$T/s3rver.log"; echo "FAIL: s3rver did not start"; exit 1; }
  S3_ENDPOINT="http://127.0.0.1:$S3_PORT"
}

# start_fault_proxy SPEC SEED: a proxy in front of s3rver; sets PROXY_PORT and PROXY_ENDPOINT.
start_fault_proxy() {
  node "$SRC/tools/npm/s3_fault_proxy.js" --listen 0 --upstream "$S3_ENDPOINT" --faults "$1" \
    --seed "$2" >"$T/proxy.out" 2>"$T/proxy.log" &
  S3_PIDS+=($!)
  PROXY_PORT=$(wait_for_line "$T/proxy.out" 'listening on 127\.0\.0\.1:[0-9]+' | grep -Eo '[0-9]+$') \
    || { cat "$T/proxy.out" "$T/proxy.log"; echo "FAIL: fault proxy did not start"; exit 1; }
  PROXY_ENDPOINT="http://127.0.0.1:$PROXY_PORT"
}

stop_s3() { kill "${S3_PIDS[@]}" 2>/dev/null; wait 2>/dev/null; }
