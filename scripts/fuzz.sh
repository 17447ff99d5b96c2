#!/usr/bin/env bash
# Builds the libFuzzer targets under fuzz/ with clang, AddressSanitizer and UndefinedBehavior-
# Sanitizer (into build-fuzz/), then runs each one: first over its seed corpus and the inputs that
# once broke Baton (fuzz/corpus/<target>/, fuzz/regressions/<target>/), then fuzzing for
# --seconds from there (or for --runs inputs). A crash, a sanitizer report, an uncaught exception, a timeout of one input
# (-timeout) or memory beyond -rss_limit_mb stops it: the input is saved under
# build-fuzz/findings/<target>/ and the script exits 1, printing how to replay it.
#
#   scripts/fuzz.sh                       # every target, 60 s each
#   scripts/fuzz.sh --runs 100000 --seed 1  # what scripts/test.sh (CI) runs
#   scripts/fuzz.sh --seconds 600 fuzz_job  # one target, longer
#
# CI's lane is reproducible: a fixed seed and a fixed number of inputs try the same inputs on
# every run of the same code, so its verdict never depends on the machine's speed or on luck (a
# time limit would try more inputs on a faster machine, and a random seed other ones). Looking
# for new bugs is the --seconds mode's job, with a fresh seed each time (printed as "Seed:").
#
# New inputs found while fuzzing go to a scratch copy of the corpus, never into fuzz/: add the
# interesting ones to fuzz/corpus/<target>/ by hand (keep them small). An input that found a bug
# goes to fuzz/regressions/<target>/ with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60
runs=""
seed=""
targets=()
while (($#)); do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --seconds=*) seconds="${1#*=}"; shift ;;
    --runs) runs="$2"; shift 2 ;;
    --runs=*) runs="${1#*=}"; shift ;;
    --seed) seed="$2"; shift 2 ;;
    --seed=*) seed="${1#*=}"; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if ((${#targets[@]} == 0)); then
  for f in fuzz/*.cc; do targets+=("$(basename "$f" .cc)"); done
fi
for n in "$seconds" ${runs:+"$runs"} ${seed:+"$seed"}; do
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: --seconds, --runs and --seed take a whole number, not '$n'" >&2; exit 2; }
done
budget=(-max_total_time="$seconds")
what="fuzzing for ${seconds}s"
if [ -n "$runs" ]; then
  budget=(-runs="$runs")
  what="fuzzing $runs inputs"
fi
if [ -n "$seed" ]; then
  budget+=(-seed="$seed")
  what="$what from seed $seed"
fi
for t in "${targets[@]}"; do
  [ -f "fuzz/$t.cc" ] || { echo "fuzz.sh: no target $t (fuzz/$t.cc)" >&2; exit 2; }
done
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (scripts/setup.sh --fuzz installs it)" >&2; exit 2; }

build=build-fuzz
echo "fuzz: building ${targets[*]} with clang, ASan and UBSan into $build/"
# -O1 with line tables: fast to build, and sanitizer reports name file:line.
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="-O1 -gline-tables-only" \
  -DBATON_FUZZ=ON -DBATON_CUDA=OFF -DBATON_BUILD_TESTS=OFF -DBATON_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"

# Sanitizer reports abort (so libFuzzer keeps the input); leaks are reported too.
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
limits=(-rss_limit_mb=1024 -malloc_limit_mb=512 -timeout=10 -max_len=65536)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in "${targets[@]}"; do
  findings="$build/findings/$t"
  mkdir -p "$findings" "$scratch/$t"
  seeds=()
  for d in "fuzz/corpus/$t" "fuzz/regressions/$t"; do
    [ -d "$d" ] && [ -n "$(ls -A "$d")" ] && seeds+=("$d")
  done
  echo "fuzz: $t: replaying ${seeds[*]:-no seeds}, then $what"
  if ((${#seeds[@]})) && ! "$build/$t" "${limits[@]}" -runs=0 -artifact_prefix="$findings/" \
      "${seeds[@]}" >"$scratch/$t.replay.log" 2>&1; then
    tail -40 "$scratch/$t.replay.log" >&2
    failed+=("$t (a seed or regression input)")
    continue
  fi
  if ! "$build/$t" "${limits[@]}" "${budget[@]}" -print_final_stats=1 \
      -artifact_prefix="$findings/" "$scratch/$t" "${seeds[@]}" >"$scratch/$t.log" 2>&1; then
    tail -60 "$scratch/$t.log" >&2
    failed+=("$t")
    continue
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$scratch/$t.log" |
    sed "s/^/fuzz: $t: /" || true
done
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  echo "fuzz: inputs are under $build/findings/<target>/; replay one with: $build/<target> <file>" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, no findings"
