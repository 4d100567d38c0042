#!/usr/bin/env bash
# The benchmark's one entry point: builds the emulator's release binary and the baseline, installs
# wrk if it is missing, then runs the scenarios (bench/driver.py) and prints a table of medians.
#
#   bench/run.sh                 every scenario, 3 runs each, 10 s load runs (~25 min)
#   bench/run.sh --quick         1 run each, 3 s load runs
#   bench/run.sh --only post,get --runs 5
#   bench/run.sh --list          the scenarios
#
# Results also go to target/bench/results.md and results.json. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
  echo "== installing wrk (Debian)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=(); else SUDO=(sudo); fi
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq wrk >/dev/null
fi
for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done

case " $* " in
  *" --list "* | *" -h "* | *" --help "*) exec python3 bench/driver.py "$@" ;;
esac

echo "== cargo build --release --locked (emulator)" >&2
cargo build --release --locked --quiet
cargo build --release --locked --quiet --example lock_hold
echo "== cargo build --release --locked (bench/baseline)" >&2
cargo build --release --locked --quiet --manifest-path bench/baseline/Cargo.toml

exec python3 bench/driver.py "$@"
