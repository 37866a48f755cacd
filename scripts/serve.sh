#!/usr/bin/env bash
# One command from a fresh clone to a running daemon with embedded defaults:
# SQLite and runc state in ./data, API on http://127.0.0.1:8080. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# the daemon runs the built JavaScript: build it when missing or older than the sources
bash scripts/ensure-built.sh
# the V8 flag of packaging/hoody.service: a 2 MB young generation (less memory, same CPU per request)
exec node --max-semi-space-size=2 bin/hoody.js serve "$@"
