#!/usr/bin/env bash
# Everything the web client's checks need, from a fresh clone: installs the
# locked npm packages and (when missing) Debian's Chromium, then runs the
# type check, the unit tests (Vitest), the production build (with its size
# and asset hashes), the browser smoke test against the built page, and the
# end-to-end test (visitor and counsellors in Chromium against the real
# server binary, plus a Rust CLI client for MLS interop; the binaries are
# built with cargo unless the root test.sh built them).
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n== %s\n' "$*"; }

node -e 'const [a, b] = process.versions.node.split(".").map(Number); if (a < 20 || (a === 20 && b < 19)) { console.error(`Node ${process.versions.node} is too old: need 20.19 or newer`); process.exit(1); }'

step "npm ci"
npm ci --no-audit --no-fund --loglevel=error

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  step "installing Debian's chromium"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
export CHROMIUM

mkdir -p test-artifacts

step "typecheck (tsc --noEmit)"
npx tsc --noEmit

step "unit tests (vitest)"
npx vitest run --reporter=default --reporter=json --outputFile.json=test-artifacts/vitest.json

step "build (vite build)"
npx vite build
node scripts/report-build.mjs --check

step "browser smoke test (chromium)"
set +e
node smoke/smoke.mjs | tee test-artifacts/smoke.log
smoke_status=${PIPESTATUS[0]}
set -e

# Built so the test never runs a stale binary; the root test.sh has built
# every binary already (and says so), so it is not built twice.
if [ "${PARASOL_BINARIES_BUILT:-}" != 1 ]; then
  step "parasol-server and the parasol CLI (cargo build)"
  (cd .. && cargo build --quiet --locked -p parasol-server --bin parasol-server -p parasol-client --bin parasol)
fi

step "end-to-end test (chromium, real server, Rust CLI interop)"
set +e
node e2e/e2e.mjs | tee test-artifacts/e2e.log
e2e_status=${PIPESTATUS[0]}
set -e

# One closing line for the whole run, counted from every runner's results.
node -e '
  const fs = require("fs");
  const v = JSON.parse(fs.readFileSync("test-artifacts/vitest.json", "utf8"));
  let passed = v.numPassedTests;
  let failed = v.numFailedTests;
  for (const [file, name] of [["smoke.log", "smoke"], ["e2e.log", "e2e"]]) {
    const m = fs.readFileSync(`test-artifacts/${file}`, "utf8").match(new RegExp(`${name}: (\\d+) passed, (\\d+) failed`));
    passed += m ? Number(m[1]) : 0;
    failed += m ? Number(m[2]) : 1;
  }
  console.log(`\nweb-client: ${passed} passed, ${failed} failed`);
'
if [ "$smoke_status" != 0 ]; then exit "$smoke_status"; fi
exit "$e2e_status"
