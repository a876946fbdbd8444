#!/usr/bin/env bash
# Peer benchmark (issue 5): receta against GNU make, ninja, snakemake, doit,
# dask.distributed and a bash floor, on the same shell commands, in one
# session. Installs the missing peers and receta's build dependencies (Debian
# 12, root or sudo), builds receta, runs bench/bench.py, prints the report.
#
# Usage: bash bench/run.sh [--reps N] [--quick] [--build DIR] [--only W1,W3,...] [--no-100k]
#   --reps N     repetitions; medians are reported (default 5)
#   --quick      smoke run: small sizes, 1 rep
#   --build DIR  receta build dir (default build-bench in the repo; configured
#                RelWithDebInfo if it has no build.ninja yet)
#   --only LIST  workloads to run, of W1 W2 W3 W4 W5 100k
#   --no-100k    skip the 100,000-step DAG
# Results (report.md, results.json, raw.tsv): bench/results/<date-time>/.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$repo/build-bench"
args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --reps|--only) args+=("$1" "$2"); shift 2 ;;
    --quick|--no-100k) args+=("$1"); shift ;;
    -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$build" = /* ]] || build="$PWD/$build"

"$repo/deploy/install-deps.sh" >/dev/null
"$repo/bench/install-peers.sh"

if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
case $build_type in
  Release|RelWithDebInfo) ;;
  *) echo "run.sh: warning: $build is a '${build_type:-no build type}' build; timings want Release or RelWithDebInfo" >&2 ;;
esac
echo "building receta in $build ..."
ninja -C "$build" receta receta-scheduler receta-worker >/dev/null

# Debian's python: snakemake, doit and dask are Debian packages, and a
# python3 earlier on PATH (pyenv, a venv) would not see them.
results="$repo/bench/results/$(date +%Y%m%d-%H%M%S)"
exec /usr/bin/python3 "$repo/bench/bench.py" --build "$build" --results "$results" "${args[@]}"
