#!/usr/bin/env bash
# The README's two commands:
#   ./quickstart.sh demo   install, build, and run the demo pipeline
#   ./quickstart.sh test   install, build, and run the whole test suite
# Each installs missing Debian packages and builds only what changed, so a
# second run is fast.
set -euo pipefail
cd "$(dirname "$0")"

usage() {
  echo "usage: ./quickstart.sh demo|test" >&2
  exit 2
}
[ $# -eq 1 ] || usage

build_dir="${RECETA_BUILD_DIR:-build}"

deploy/install-deps.sh
if [ ! -f "$build_dir/build.ninja" ]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$build_dir" -- -j "$(nproc)"

case "$1" in
  demo)
    exec scripts/demo.sh "$build_dir"
    ;;
  test)
    exec ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)"
    ;;
  *) usage ;;
esac
