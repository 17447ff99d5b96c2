# Sourced by the chaos e2e scripts. chaos_loop LOG MAX_ATTEMPTS MAX_DELAY runs
# `"$BATON" train "${CHAOS_ARGS[@]}"` again and again, each attempt interrupted: by SIGKILL, by a
# kill inside a checkpoint write (BATON_KILL_AT, one of "${KILL_POINTS[@]}"), or by SIGTERM (which
# must exit 0), until `chaos_done` succeeds. A SIGKILL or SIGTERM is sent once the attempt has
# logged a training step of its own, so every attempt makes progress and the interruptions
# follow the run's steps, not the clock: the first attempts cover every kind of interruption, one
# step after they start, whatever the machine's speed (a fixed sleep let a fast machine finish
# the run before the last kind came up). Later attempts pick a kind by chance and wait a random
# 0 to MAX_DELAY seconds more after that step, to land anywhere inside one. After MAX_ATTEMPTS
# the last attempt runs undisturbed. Sets ATTEMPTS, KILLS, TERMS and POINTS; calls fail() (the
# caller's) on a wrong exit code.
chaos_loop() {
  local log=$1 max=$2 max_delay=$3 mode kp pid rc delay
  local attempt_log="$log.attempt"
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
      # Emptied here, not by the background job's own redirection: that runs after `&` returns,
      # so the wait below could read the last attempt's lines and signal this one before it set
      # its handlers (a SIGTERM exit 143 seen in CI).
      : >"$attempt_log"
      "$BATON" train "${CHAOS_ARGS[@]}" >>"$attempt_log" 2>&1 &
      pid=$!
      # Until this attempt logs a step (a training line has "loss"), or ends.
      while kill -0 $pid 2>/dev/null && ! grep -q '"loss"' "$attempt_log"; do sleep 0.05; done
      delay=0
      [ $ATTEMPTS -le ${#modes[@]} ] \
        || delay=$(awk -v r=$RANDOM -v m="$max_delay" 'BEGIN { printf "%.2f", m * (r % 100) / 100 }')
      sleep "$delay"
      if kill -0 $pid 2>/dev/null; then
        if [ $mode -eq 1 ]; then
          kill -TERM $pid; TERMS=$((TERMS + 1))
          wait $pid; rc=$?
          [ $rc -eq 0 ] || { tail -20 "$attempt_log"; fail "SIGTERM exit $rc, want 0"; }
        else
          kill -KILL $pid; KILLS=$((KILLS + 1)); wait $pid 2>/dev/null
        fi
      else
        wait $pid; rc=$?
        [ $rc -eq 0 ] || { tail -20 "$attempt_log"; fail "run exited $rc"; }
      fi
      cat "$attempt_log" >>"$log"
    fi
  done
  echo "chaos run: $ATTEMPTS attempts, $KILLS SIGKILLs, $TERMS SIGTERMs, $POINTS kill points"
  grep -q "resuming from" "$log" || fail "the chaos run never resumed"
  [ $KILLS -ge 1 ] && [ $TERMS -ge 1 ] && [ $POINTS -ge 1 ] || fail "not every kind of interruption happened"
}
