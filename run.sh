#!/usr/bin/env bash
# Run Parasol on this machine for trying it out: builds the web client
# (once, or again when its sources changed) and starts the server on
# http://127.0.0.1:8080 with the web client, data in ./data, and a demo
# counsellor whose password is printed at start. Extra arguments go to the
# server (see `cargo run -p parasol-server -- --help`).
set -euo pipefail
cd "$(dirname "$0")"

stamp=web-client/dist/.built-from
sources=$(cd web-client && cat package-lock.json index.html vite.config.ts $(find src public -type f | sort) | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sources" ]; then
  echo "== building the web client"
  (cd web-client && npm ci --no-audit --no-fund --loglevel=error && npx vite build)
  echo "$sources" > "$stamp"
fi
exec cargo run --release -p parasol-server -- --demo "$@"
