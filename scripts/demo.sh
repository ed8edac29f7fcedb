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
echo '== lokal query: the newest API errors (logcli output)'
"$bin" query -z UTC --limit 3 '{job="api"} | json | level="error"'
echo '== lokal query: errors per job in each of the first 6 hours (metric range query;'
echo '   as in Loki, every step from --from to --to is evaluated, both included)'
"$bin" query -z UTC --from 2024-03-01T01:00:00Z --to 2024-03-01T06:00:00Z --step 1h \
  'sum by (job) (count_over_time({job=~".+"} |~ "(?i)error|failed|5[0-9][0-9] " [1h]))'
echo '== lokal instant-query: p99 API latency (ms) over the first day'
"$bin" instant-query -z UTC --now 2024-03-02T00:00:00Z \
  'quantile_over_time(0.99, {job="api"} | json | unwrap duration_ms [1d]) by (job)'
echo '== lokal series --analyze-labels'
"$bin" series --analyze-labels '{job=~".+"}'
