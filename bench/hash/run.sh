#!/usr/bin/env bash
# Hash benchmark: receta's HashFile against `openssl dgst -sha256` and
# `sha256sum` on the same 1 GiB file, then 10,000 small files hashed cold and
# re-hashed through a warm stat cache loaded from disk. See README.md.
#
# Usage: bench/hash/run.sh [BUILD_DIR]    (default: build, relative to the repo)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-build}
[[ "$build" = /* ]] || build="$repo/$build"
for tool in cmake ninja openssl sha256sum awk; do
  command -v "$tool" >/dev/null || { echo "run.sh: '$tool' is not installed" >&2; exit 1; }
done

work=$(mktemp -d /tmp/receta-bench-hash.XXXXXX)
trap 'rm -rf "$work"' EXIT

if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$repo" -B "$build" -G Ninja >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
fi
ninja -C "$build" receta-bench-hash >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
bench="$build/bench/hash/receta-bench-hash"

file_size_bytes=$((1 << 30))
file_count=10000
runs=3

median() { sort -g | sed -n "$(((runs + 1) / 2))p"; }
now_ns() { date +%s%N; }
# field NAME LINE: the value of NAME=value in a receta-bench-hash output line.
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }
ms_of_ns() { awk -v ns="$1" 'BEGIN { printf "%.0f", ns / 1e6 }'; }
mb_per_s() { awk -v b="$file_size_bytes" -v ns="$1" 'BEGIN { printf "%.0f", b * 1e3 / ns }'; }

echo "receta hash benchmark"
echo "  cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores," \
  "sha_ni: $(grep -q -w sha_ni /proc/cpuinfo && echo yes || echo no)"
echo "  $(openssl version), $(sha256sum --version | head -1)"
echo "  load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# --- one large file -----------------------------------------------------------
"$bench" make-file "$work/big.bin" "$file_size_bytes"
cat "$work/big.bin" >/dev/null  # warm the page cache

declare -A times_ns=()
expected=""
for ((run = 1; run <= runs; run++)); do
  # Why interleaved: drift in machine load then hits every tool alike.
  for tool in receta openssl sha256sum; do
    case $tool in
      receta) cmd=("$bench" file "$work/big.bin") ;;
      openssl) cmd=(openssl dgst -sha256 -r "$work/big.bin") ;;
      sha256sum) cmd=(sha256sum "$work/big.bin") ;;
    esac
    start=$(now_ns)
    "${cmd[@]}" >"$work/out"
    end=$(now_ns)
    times_ns[$tool]+="$((end - start)) "
    digest=$(cut -d' ' -f1 "$work/out")
    expected=${expected:-$digest}
    if [[ "$digest" != "$expected" ]]; then
      echo "run.sh: $tool printed digest $digest, expected $expected" >&2
      exit 1
    fi
  done
done
rm -f "$work/big.bin"

declare -A median_ns=()
for tool in receta openssl sha256sum; do
  median_ns[$tool]=$(tr ' ' '\n' <<<"${times_ns[$tool]}" | grep . | median)
done
ratio=$(awk -v r="${median_ns[receta]}" -v o="${median_ns[openssl]}" 'BEGIN { printf "%.2f", o / r }')
verdict=$(awk -v x="$ratio" 'BEGIN { print (x >= 0.90) ? "PASS" : "MISS" }')

echo "1 GiB file, page cache warm, median of $runs (whole process, same digest checked)"
printf "  %-28s %10s %10s\n" "tool" "time ms" "MB/s"
printf "  %-28s %10s %10s\n" "receta HashFile" "$(ms_of_ns "${median_ns[receta]}")" "$(mb_per_s "${median_ns[receta]}")"
printf "  %-28s %10s %10s\n" "openssl dgst -sha256" "$(ms_of_ns "${median_ns[openssl]}")" "$(mb_per_s "${median_ns[openssl]}")"
printf "  %-28s %10s %10s\n" "sha256sum" "$(ms_of_ns "${median_ns[sha256sum]}")" "$(mb_per_s "${median_ns[sha256sum]}")"
echo "  throughput ratio receta/openssl: $ratio (target >= 0.90) $verdict"
echo

# --- many small files -----------------------------------------------------------
"$bench" make-tree "$work/tree" "$file_count"
tree=$(cd "$work/tree" && pwd -P)  # one canonical spelling for the cache keys

cold_ms=""
cold_cpu_ms=""
for ((run = 1; run <= runs; run++)); do
  line=$("$bench" tree "$tree" -)
  cold_ms+="$(field hash_ms "$line") "
  cold_cpu_ms+="$(field cpu_ms "$line") "
done
total_mb=$(awk -v b="$(field bytes_read "$line")" 'BEGIN { printf "%.1f", b / 1e6 }')

# Why: the stat cache does not trust an entry for a file changed less than
# StatCache::kRacyMarginNs (2 s) before it was hashed (racy-git rule); real
# datasets are older than that, freshly generated ones are not.
sleep 3
prime=$("$bench" tree "$tree" "$work/stat_cache")
cache_kb=$(($(stat -c %s "$work/stat_cache") / 1024))

warm_total_ms=""
warm_load_ms=""
warm_hash_ms=""
warm_cpu_ms=""
warm_process_ms=""
for ((run = 1; run <= runs; run++)); do
  start=$(now_ns)
  line=$("$bench" tree "$tree" "$work/stat_cache")
  end=$(now_ns)
  load=$(field load_ms "$line")
  hash=$(field hash_ms "$line")
  warm_load_ms+="$load "
  warm_hash_ms+="$hash "
  warm_total_ms+="$(awk -v a="$load" -v b="$hash" 'BEGIN { print a + b }') "
  warm_cpu_ms+="$(field cpu_ms "$line") "
  warm_process_ms+="$(ms_of_ns $((end - start))) "
  hits=$(field hits "$line")
  if [[ "$(field digest "$line")" != "$(field digest "$prime")" ]]; then
    echo "run.sh: warm digest differs from cold digest" >&2
    exit 1
  fi
done
med() { tr ' ' '\n' <<<"$1" | grep . | median; }
warm_total=$(med "$warm_total_ms")
verdict=$(awk -v x="$warm_total" 'BEGIN { print (x < 100) ? "PASS" : "MISS" }')

echo "$file_count small files ($total_mb MB in $((file_count / 100)) directories), median of $runs"
printf "  %-50s %10s %10s\n" "pass" "wall ms" "cpu ms"
printf "  %-50s %10s %10s\n" "cold: no stat cache, every file read" "$(med "$cold_ms")" "$(med "$cold_cpu_ms")"
printf "  %-50s %10s %10s\n" "first run: read all, then save cache (${cache_kb} KiB)" \
  "$(awk -v a="$(field hash_ms "$prime")" -v b="$(field save_ms "$prime")" 'BEGIN { printf "%.2f", a + b }')" "-"
printf "  %-50s %10s %10s\n" "warm: load stat cache from disk" "$(med "$warm_load_ms")" "-"
printf "  %-50s %10s %10s\n" "warm: lstat + lookup every file, Merkle" "$(med "$warm_hash_ms")" "-"
printf "  %-50s %10s %10s\n" "warm: load + re-hash total" "$warm_total" "$(med "$warm_cpu_ms")"
printf "  %-50s %10s %10s\n" "warm: whole process incl. exec" "$(med "$warm_process_ms")" "-"
echo "  warm cache hits: $hits/$file_count; warm total target < 100 ms: $verdict"
echo "  load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
