#!/usr/bin/env bash
# Cached reruns: nothing changed -> every step `cached` and no command runs;
# one input file changed -> exactly the steps downstream of it run; one
# param changed -> exactly the steps that see it run; a step that makes the
# same bytes again lets its downstream steps hit the cache (early cut-off);
# --no-cache runs everything.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

ws="$T/ws"
mkdir -p "$ws/in"
echo a1 >"$ws/in/a.txt"
echo b1 >"$ws/in/b.txt"
echo d1 >"$ws/in/d.txt"
printf 'x y\n' >"$ws/in/raw.txt"
# a -> b -> c -> e <- d ; p1, p2 see param p ; norm -> use (early cut-off).
cat >"$ws/dag.yaml" <<YAML
name: cachetest
params: {p: 1, q: 7}
defaults:
  retries: 0
  env: {MARK: "$MARK"}
steps:
  a:
    run: |
      echo a >> "\$MARK/ran.log"
      cat in/a.txt > out/a.txt
    inputs: [in/a.txt]
    outputs: [out/a.txt]
  b:
    run: |
      echo b >> "\$MARK/ran.log"
      cat out/a.txt in/b.txt > out/b.txt
    inputs: [out/a.txt, in/b.txt]
    outputs: [out/b.txt]
  c:
    run: |
      echo c >> "\$MARK/ran.log"
      sort out/b.txt > out/c.txt
    inputs: [out/b.txt]
    outputs: [out/c.txt]
  d:
    run: |
      echo d >> "\$MARK/ran.log"
      cp in/d.txt out/d.txt
    inputs: [in/d.txt]
    outputs: [out/d.txt]
  e:
    run: |
      echo e >> "\$MARK/ran.log"
      cat out/c.txt out/d.txt > out/e.txt
    inputs: [out/c.txt, out/d.txt]
    outputs: [out/e.txt]
  p1:
    run: |
      echo p1 >> "\$MARK/ran.log"
      echo "p={{params.p}}" > out/p1.txt
    inputs: [in/d.txt]
    outputs: [out/p1.txt]
  p2:
    run: |
      echo p2 >> "\$MARK/ran.log"
      echo "p={{params.p}} q={{params.q}}" > out/p2.txt
    inputs: [in/d.txt]
    outputs: [out/p2.txt]
  norm:
    run: |
      echo norm >> "\$MARK/ran.log"
      tr -s ' \n' '\n\n' < in/raw.txt | sed '/^\$/d' > out/norm.txt
    inputs: [in/raw.txt]
    outputs: [out/norm.txt]
  use:
    run: |
      echo use >> "\$MARK/ran.log"
      wc -l < out/norm.txt > out/use.txt
    inputs: [out/norm.txt]
    outputs: [out/use.txt]
YAML
all="a b c d e norm p1 p2 use"

start_scheduler
start_worker w1 --slots 2
start_worker w2 --slots 2

# 1. Cold run: every command runs once.
n=$(ran_count)
submit_wait 0 "$ws/dag.yaml"
run1=$RUN
assert_eq "run 1 state" succeeded "$(run_state "$run1")"
assert_eq "steps that ran in the cold run" "$all" "$(ran_since "$n")"
assert_eq "ran.log lines in the cold run (each step once)" 9 "$(($(ran_count) - n))"
assert_eq "succeeded steps of the cold run" "$all" "$(steps_in_state "$run1" succeeded)"
assert_eq "cached flags of the cold run" "" \
  "$(status_json "$run1" | jpy "' '.join(sorted(s['name'] for s in d['steps'] if s.get('cached')))")"

# 2. Nothing changed: every step cached, no command executed.
n=$(ran_count)
submit_wait 0 "$ws/dag.yaml"
run2=$RUN
assert_ne "second run id" "$run1" "$run2"
assert_eq "steps that ran in the unchanged rerun" "" "$(ran_since "$n")"
assert_eq "cached steps of the unchanged rerun" "$all" "$(steps_in_state "$run2" cached)"
assert_eq "cached flags of the unchanged rerun" "$all" \
  "$(status_json "$run2" | jpy "' '.join(sorted(s['name'] for s in d['steps'] if s.get('cached') is True))")"
assert_eq "cached_from_run of step a" "$run1" "$(step_field "$run2" a cached_from_run)"
assert_eq "cache key of step e is stable" "$(step_field "$run1" e cache_key)" \
  "$(step_field "$run2" e cache_key)"
assert_eq "attempts of a cached step" 0 "$(step_field "$run2" a attempts)"
# The cached rerun hands back the same artifacts.
"$RECETA" artifacts get "$run2" e out/e.txt -o "$T/e2.txt" >/dev/null ||
  fail "artifacts get $run2 e out/e.txt failed"
assert_eq "out/e.txt from the cached run" "$(printf 'a1\nb1\nd1')" "$(cat "$T/e2.txt")"

# 3. Change one input file: exactly the steps downstream of it run again.
echo b2 >"$ws/in/b.txt"
n=$(ran_count)
submit_wait 0 "$ws/dag.yaml"
assert_eq "steps that ran after in/b.txt changed" "b c e" "$(ran_since "$n")"
assert_eq "cached steps after in/b.txt changed" "a d norm p1 p2 use" "$(steps_in_state "$RUN" cached)"
assert_ne "cache key of b after its input changed" "$(step_field "$run1" b cache_key)" \
  "$(step_field "$RUN" b cache_key)"

# 4. Change a param: exactly the steps that see it run again.
n=$(ran_count)
submit_wait 0 "$ws/dag.yaml" -p p=2
assert_eq "steps that ran after -p p=2" "p1 p2" "$(ran_since "$n")"
"$RECETA" artifacts get "$RUN" p1 out/p1.txt -o "$T/p1.txt" >/dev/null || fail "artifacts get p1"
assert_file_eq "out/p1.txt with p=2" "$T/p1.txt" "p=2"
# A param only p2 sees.
n=$(ran_count)
submit_wait 0 "$ws/dag.yaml" -p p=2 -p q=8
assert_eq "steps that ran after -p q=8" "p2" "$(ran_since "$n")"
# Back to the defaults: those results are still cached.
n=$(ran_count)
submit_wait 0 "$ws/dag.yaml"
assert_eq "steps that ran back on the default params" "" "$(ran_since "$n")"

# 5. Early cut-off: norm runs again but makes the same bytes, so use is cached.
printf 'x   y\n\n' >"$ws/in/raw.txt"
n=$(ran_count)
submit_wait 0 "$ws/dag.yaml"
assert_eq "steps that ran after a whitespace-only change of in/raw.txt" "norm" "$(ran_since "$n")"
assert_eq "state of norm" succeeded "$(step_field "$RUN" norm state)"
assert_eq "state of use (same input bytes)" cached "$(step_field "$RUN" use state)"
# use was sent ahead to norm's worker (speculative dispatch) and dropped
# there unstarted: norm made what use's cached result was made from.
assert_eq "speculative dispatches of use dropped unstarted" 1 \
  "$(cat "$T"/logs/worker-*.log | grep -c "dropped unstarted: .* cached result of step use was made from")"

# 6. --no-cache reruns everything.
n=$(ran_count)
submit_wait 0 "$ws/dag.yaml" --no-cache
assert_eq "steps that ran with --no-cache" "$all" "$(ran_since "$n")"
assert_eq "cached steps with --no-cache" "" "$(steps_in_state "$RUN" cached)"

# The cache index lists this DAG's entries.
entries=$("$RECETA" cache ls --json | jpy "' '.join(sorted(set(e['step'] for e in d if e['dag'] == 'cachetest')))")
assert_eq "steps with cache entries" "$all" "$entries"
