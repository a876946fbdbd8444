#!/usr/bin/env bash
# Installs what receta needs to build, test and run its demo on Debian 12.
# Idempotent: installs only the packages that are missing, and says which.
# Uses sudo when not run as root.
set -euo pipefail

packages=(
  # build
  g++ cmake ninja-build pkg-config
  # libraries (see README "Stack")
  cppzmq-dev libzmq3-dev libmsgpack-cxx-dev librocksdb-dev libspdlog-dev
  libcli11-dev doctest-dev libyaml-cpp-dev libssl-dev
  # alert webhooks (HTTPS, redirects, proxies)
  libcurl4-openssl-dev
  # demo pipelines (scikit-learn's bundled data sets, no downloads)
  python3 python3-sklearn python3-numpy python3-yaml
  # tests: dot output is checked with Graphviz; sha256sum/openssl compare digests
  graphviz openssl coreutils
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages are installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
  sudo="sudo"
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"
