#!/usr/bin/env bash
# Run every fuzz target for FUZZ_SECONDS (default 30) each, starting from
# the committed seeds. Needs cargo-fuzz (`cargo install cargo-fuzz --locked`);
# only stable Rust is assumed, so the nightly flags cargo-fuzz needs are
# allowed with RUSTC_BOOTSTRAP. A crash or panic fails the run and leaves
# its input in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-30}
export RUSTC_BOOTSTRAP=1
for target in frame_decoder mls_intake config_loader; do
  echo "== fuzz $target for ${seconds}s"
  mkdir -p "fuzz/corpus/$target"
  set +e
  cargo fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 2>&1 |
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|error)|ERROR|panicked|SUMMARY|Test unit written'
  status=${PIPESTATUS[0]}
  set -e
  # grep hides the fuzzer's chatter; the verdict is cargo fuzz's exit status.
  if [ "$status" -ne 0 ]; then
    echo "fuzz $target failed (exit $status): the input is in fuzz/artifacts/$target/"
    exit 1
  fi
done
