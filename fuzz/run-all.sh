#!/usr/bin/env bash
# Builds every fuzz target, then runs each in turn for SECONDS (default 600) on one core from a
# copy of the binaries (so edits to the emulator meanwhile cannot disturb the run), and prints
# libFuzzer's final figures per target. Logs go to fuzz/logs/<target>.log. Needs nightly and
# cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
targets=(upload_batch upload_devices configuration_policy device_policies continuation_token seed_document)
cargo +nightly fuzz build
bin_dir="$(mktemp -d)"
for t in "${targets[@]}"; do
  cp "fuzz/target/x86_64-unknown-linux-gnu/release/$t" "$bin_dir/"
done
mkdir -p fuzz/logs
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  "$bin_dir/$t" -artifact_prefix="fuzz/artifacts/$t/" -dict=fuzz/json.dict \
    -max_total_time="$seconds" -print_final_stats=1 "fuzz/corpus/$t" "fuzz/seeds/$t" \
    >"fuzz/logs/$t.log" 2>&1 || echo "$t: FAILED (see fuzz/logs/$t.log)"
  echo "== $t"
  grep -aE '^#[0-9]+[[:space:]]+DONE|^stat::|^Done' "fuzz/logs/$t.log" || true
  echo "corpus files: $(find "fuzz/corpus/$t" -type f | wc -l), $(du -sh "fuzz/corpus/$t" | cut -f1)"
done
rm -rf "$bin_dir"
