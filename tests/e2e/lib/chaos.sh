# Sourced by the chaos e2e scripts. chaos_loop LOG MAX_ATTEMPTS MIN_SLEEP runs
# `"$BATON" train "${CHAOS_ARGS[@]}"` again and again, each attempt interrupted: by SIGKILL at a
# random moment, by a kill inside a checkpoint write (BATON_KILL_AT, one of "${KILL_POINTS[@]}"),
# or by SIGTERM (which must exit 0), until `chaos_done` succeeds. The first attempts cover every
# kind of interruption; then chance decides. After MAX_ATTEMPTS the last attempt runs
# undisturbed, so a loaded machine where short attempts make no progress still ends. Sets
# ATTEMPTS, KILLS, TERMS and POINTS; calls fail() (the caller's) on a wrong exit code.
chaos_loop() {
  local log=$1 max=$2 min_sleep=$3 mode kp pid rc
  local modes=(0 2 1 3 0 2)
  ATTEMPTS=0; KILLS=0; TERMS=0; POINTS=0
  while ! chaos_done; do
    ATTEMPTS=$((ATTEMPTS + 1))
    if [ $ATTEMPTS -gt "$max" ]; then
      "$BATON" train "${CHAOS_ARGS[@]}" >>"$log" 2>&1 \
        || { tail -20 "$log"; fail "final uninterrupted attempt failed"; }
      break
    fi
    if [ $ATTEMPTS -le ${#modes[@]} ]; then mode=${modes[$((ATTEMPTS - 1))]}; else mode=$((RANDOM % 4)); fi
    if [ $mode -eq 0 ]; then
      kp=${KILL_POINTS[$((RANDOM % ${#KILL_POINTS[@]}))]}
      BATON_KILL_AT="$kp" "$BATON" train "${CHAOS_ARGS[@]}" >>"$log" 2>&1
      rc=$?; POINTS=$((POINTS + 1))
      [ $rc -eq 0 ] || [ $rc -eq 137 ] || { tail -20 "$log"; fail "kill point $kp: exit $rc"; }
    else
      "$BATON" train "${CHAOS_ARGS[@]}" >>"$log" 2>&1 &
      pid=$!
      sleep "$(awk -v r=$RANDOM -v m="$min_sleep" 'BEGIN { printf "%.2f", m + (r % 250) / 100 }')"
      if kill -0 $pid 2>/dev/null; then
        if [ $mode -eq 1 ]; then
          kill -TERM $pid; TERMS=$((TERMS + 1))
          wait $pid; rc=$?
          [ $rc -eq 0 ] || { tail -20 "$log"; fail "SIGTERM exit $rc, want 0"; }
        else
          kill -KILL $pid; KILLS=$((KILLS + 1)); wait $pid 2>/dev/null
        fi
      else
        wait $pid; rc=$?
        [ $rc -eq 0 ] || { tail -20 "$log"; fail "run exited $rc"; }
      fi
    fi
  done
  echo "chaos run: $ATTEMPTS attempts, $KILLS SIGKILLs, $TERMS SIGTERMs, $POINTS kill points"
  grep -q "resuming from" "$log" || fail "the chaos run never resumed"
  [ $KILLS -ge 1 ] && [ $TERMS -ge 1 ] && [ $POINTS -ge 1 ] || fail "not every kind of interruption happened"
}
