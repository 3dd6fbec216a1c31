#!/usr/bin/env bash
# Run every Parasol test: formatting, lints, unit tests, protocol vectors,
# server socket tests, end-to-end tests with the real server process and
# real openmls clients, each fuzz target for a short while (cargo-fuzz;
# installed when CI=true), then the web client's checks (which install their
# npm packages and, when missing, Debian's chromium by themselves).
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n== %s\n' "$*"; }

step "format (cargo fmt --check)"
cargo fmt --all -- --check

step "lints (cargo clippy -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests (cargo test --workspace)"
cargo test --workspace --locked

step "benchmarks, smoke mode (parasol-bench all --smoke: it works, not how fast)"
cargo run --locked --quiet -p parasol-bench -- all --smoke

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
