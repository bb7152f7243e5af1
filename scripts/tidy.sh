#!/usr/bin/env bash
# clang-tidy (the root .clang-tidy) on the C++ sources a change touches: the .cpp files that differ
# from BASE (default: the parent commit), plus the .cpp beside each changed header; `--all` checks
# every library and program source. SIMD kernel files (kernels/x86, kernels/arm) and tests are left
# out: the checks fight intrinsics and Catch2's macros. Needs a configured build (compile database).
#   scripts/tidy.sh [--all | BASE]      HILQ_TIDY_BUILD=build/ci by default
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${HILQ_TIDY_BUILD:-build/ci}
if [ ! -f "$build/compile_commands.json" ]; then
  echo "tidy: $build/compile_commands.json is missing: configure the build first" >&2
  exit 1
fi
if ! command -v clang-tidy >/dev/null; then
  echo "tidy: clang-tidy is not installed (scripts/setup.sh installs it)" >&2
  exit 1
fi
keep() { grep -E '\.(cpp|h)$' | grep -vE '^(tests|kernels/x86|kernels/arm|build)/' || true; }
if [ "${1:-}" = "--all" ]; then
  changed=$(git ls-files '*.cpp' | keep)
else
  base=${1:-HEAD~1}
  if ! git rev-parse -q --verify "$base^{commit}" >/dev/null; then
    echo "tidy: no commit $base to compare with (shallow clone?): nothing checked"
    exit 0
  fi
  changed=$(git diff --name-only --diff-filter=AMR "$base" -- | keep)
fi
files=()
for f in $changed; do
  case $f in
    *.h) [ -f "${f%.h}.cpp" ] && files+=("${f%.h}.cpp") ;;
    *) files+=("$f") ;;
  esac
done
# Only files the build compiles (a header-only change with no .cpp beside it is checked through
# the sources that include it, when they change).
mapfile -t files < <(printf '%s\n' "${files[@]}" | sort -u |
  while read -r f; do [ -n "$f" ] && grep -q "\"file\": \"$root/$f\"" "$build/compile_commands.json" && echo "$f"; done)
if [ ${#files[@]} -eq 0 ]; then
  echo "tidy: no C++ source to check"
  exit 0
fi
echo "tidy: clang-tidy on ${#files[@]} file(s)"
printf '%s\n' "${files[@]}" |
  xargs -P "$(nproc)" -n 4 clang-tidy -p "$build" --quiet --extra-arg=-Wno-unknown-warning-option
echo "tidy: clean"
