#!/usr/bin/env bash
# The benchmark's one entry point: builds the emulator's release binary and the baseline, installs
# wrk if it is missing, then runs the scenarios (bench/driver.py) and prints a table of medians.
#
#   bench/run.sh                 every scenario, 3 runs each, 10 s load runs (~25 min)
#   bench/run.sh --quick         1 run each, 3 s load runs
#   bench/run.sh --only post,get --runs 5
#   bench/run.sh --list          the scenarios
#   bench/run.sh --no-wiremock   without the WireMock peer of the post and get scenarios
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

# The WireMock peer of the post and get scenarios: the npm package `wiremock` ships the standalone
# jar; it is installed once, pinned, under target/ and then runs offline on java (17+). Without
# npm or java the scenarios run without the peer and say so in their notes.
WIREMOCK_VERSION=3.13.2
WIREMOCK_DIR=target/bench/wiremock
WIREMOCK_JAR="$WIREMOCK_DIR/node_modules/wiremock/build/wiremock-standalone-$WIREMOCK_VERSION.jar"
if [ ! -f "$WIREMOCK_JAR" ] && command -v npm >/dev/null && ! [[ " $* " == *" --no-wiremock "* ]]; then
  echo "== npm install wiremock@$WIREMOCK_VERSION (into $WIREMOCK_DIR)" >&2
  mkdir -p "$WIREMOCK_DIR"
  npm install --prefix "$WIREMOCK_DIR" --no-audit --no-fund --silent "wiremock@$WIREMOCK_VERSION" >&2
fi

echo "== cargo build --release --locked (emulator)" >&2
cargo build --release --locked --quiet
cargo build --release --locked --quiet --example lock_hold
echo "== cargo build --release --locked (bench/baseline)" >&2
cargo build --release --locked --quiet --manifest-path bench/baseline/Cargo.toml

exec python3 bench/driver.py "$@"
