#!/usr/bin/env bash
# The demo: what receta can do with the iris pipeline today. Until the
# scheduler lands (issue #3), it validates the DAG, shows how receta reads it
# and draws it; then the scheduler and workers will run it here.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-build}"
receta="$build_dir/cli/receta"
dag=dags/iris/iris.yaml

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; "$@"; }

step "$receta" --version
step "$receta" dag validate "$dag"
step "$receta" dag graph "$dag"
step "$receta" dag show "$dag" -p n_estimators=200
step "$receta" dag validate dags/sweep/sweep.yaml
step "$receta" dag graph dags/sweep/sweep.yaml --format mermaid
printf '\nThe scheduler and workers that run this DAG arrive with issue #3.\n'
