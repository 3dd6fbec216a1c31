#!/usr/bin/env bash
# Everything the web client's checks need, from a fresh clone: installs the
# locked npm packages and (when missing) Debian's Chromium, then runs the
# type check, the unit tests (Vitest), the production build (with its size
# and asset hashes), and the browser smoke test against the built page.
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
node scripts/report-build.mjs

step "browser smoke test (chromium)"
set +e
node smoke/smoke.mjs | tee test-artifacts/smoke.log
smoke_status=${PIPESTATUS[0]}
set -e

# One closing line for the whole run, counted from both runners' results.
node -e '
  const fs = require("fs");
  const v = JSON.parse(fs.readFileSync("test-artifacts/vitest.json", "utf8"));
  const m = fs.readFileSync("test-artifacts/smoke.log", "utf8").match(/smoke: (\d+) passed, (\d+) failed/);
  const passed = v.numPassedTests + (m ? Number(m[1]) : 0);
  const failed = v.numFailedTests + (m ? Number(m[2]) : 1);
  console.log(`\nweb-client: ${passed} passed, ${failed} failed`);
'
exit "$smoke_status"
