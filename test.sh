#!/usr/bin/env bash
# Run every Parasol test: formatting, lints, unit tests, protocol vectors,
# server socket tests, end-to-end tests with the real server process and
# real openmls clients, each fuzz target for a short while (cargo-fuzz;
# installed when CI=true), then the web client's checks (which install their
# npm packages and, when missing, Debian's chromium by themselves).
#
# Every binary is built once, before any test runs; the tests only locate
# them (tests/src/lib.rs). With cargo-nextest installed the test binaries run
# side by side (.config/nextest.toml keeps the latency tests alone);
# without it, `cargo test` runs them one after another. Each step's time is
# printed at its end. See CONTRIBUTING.md, "Tests".
set -euo pipefail
cd "$(dirname "$0")"

started=$SECONDS
step_started=$SECONDS
step() {
  if [ -n "${step_name:-}" ]; then printf -- '-- %s: %d s\n' "$step_name" $((SECONDS - step_started)); fi
  step_name="$*"
  step_started=$SECONDS
  printf '\n== %s\n' "$*"
}

step "format (cargo fmt --check)"
cargo fmt --all -- --check

step "lints (cargo clippy -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build, once: every crate, binary and test (debug), the release server (for the load tests)"
cargo build --workspace --all-targets --locked
cargo build --release --locked -p parasol-server --bin parasol-server
# web-client/test.sh then uses these binaries instead of building them again.
export PARASOL_BINARIES_BUILT=1

if cargo nextest --version >/dev/null 2>&1; then
  step "tests (cargo nextest run --workspace)"
  cargo nextest run --workspace --locked ${PARASOL_TEST_JOBS:+--test-threads "$PARASOL_TEST_JOBS"}
else
  step "tests (cargo test --workspace; cargo-nextest is not installed, so one test binary at a time)"
  cargo test --workspace --locked
fi

step "benchmarks, smoke mode (parasol-bench all --smoke: it works, not how fast)"
target="${CARGO_TARGET_DIR:-target}/debug"
"$target/parasol-bench" all --smoke --server-bin "$target/parasol-server"

step "fuzzing (fuzz/run.sh: each target for ${FUZZ_SECONDS:-30} s)"
if ! cargo fuzz --version >/dev/null 2>&1 && [ "${CI:-}" = true ]; then
  cargo install cargo-fuzz --locked
fi
if cargo fuzz --version >/dev/null 2>&1; then
  fuzz/run.sh
else
  echo "cargo-fuzz is not installed, so fuzzing is skipped (cargo install cargo-fuzz --locked; CI installs it)"
fi

step "web client (web-client/test.sh)"
web-client/test.sh

printf -- '-- %s: %d s\n' "$step_name" $((SECONDS - step_started))
printf '\ntest.sh: every step passed in %d s\n' $((SECONDS - started))
