#!/usr/bin/env bash
# The main job on lokal's own sample logs: build, make logs, ingest, inspect.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/lokal
demo=target/demo
rm -rf "$demo" && mkdir -p "$demo"
python3 scripts/sample-logs.py "$demo/logs"
export LOKAL_STORE="$demo/store"
echo "== lokal ingest (labels job and host from the path; stack traces joined)"
"$bin" ingest -r --label-from-path '/logs/(?P<job>[^/]+)/(?P<host>[^/.]+)\.log$' \
  --multiline-start '^(ts=|\{|\d)' "$demo/logs"
echo "== lokal stats"
"$bin" stats
echo "== lokal verify"
"$bin" verify
