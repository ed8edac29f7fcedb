#!/usr/bin/env bash
# Metric query benchmark on the 1 GiB corpus, one run, side by side:
#   sum by (level) (count_over_time({job=~"api-gateway|checkout"} | json [5m]))
#   quantile_over_time(0.99, {job=~"payments|inventory"} | logfmt | unwrap duration_ms [5m]) by (service)
#   count_over_time({job=~".+"} [5m])    (plain selector)
# over the corpus' 24 h at a 1 m step. Prints seconds, MB/s of raw log bytes in the
# selected streams, and peak RSS. Not a test: nothing is asserted on time.
#
#   bench/metric.sh [CORPUS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-bench/out/corpus-1g}
runs=${RUNS:-3}
if [ ! -f "$corpus/manifest.csv" ]; then
  python3 ../shared/data/gen_corpus.py --out "$corpus" --size 1G --procs 2
fi
cargo build --release --quiet
bin=$PWD/target/release/lokal
store=${STORE:-bench/out/store-1g}
if [ ! -f "$store/fake/MANIFEST" ]; then
  "$bin" --store "$store" ingest -q --label-from-path '/(?P<job>[^/]+)/(?P<host>[^/]+)\.log$' \
    $(find "$corpus" -name '*.log' | sort)
fi
export LOKAL_STORE=$store
bytes_of() { cat $(find "$corpus" -name '*.log' | grep -E "/($1)/" ) | wc -c; }
range=(--from 2024-01-01T00:00:00Z --to 2024-01-02T00:00:00Z --step 1m -o json -z UTC)
run() { # name regex query
  local raw best="" rss=0 out
  raw=$(bytes_of "$2")
  for _ in $(seq "$runs"); do
    local t0 t1 dt
    t0=$(date +%s.%N)
    out=$(/usr/bin/time -f '%M' -o /tmp/lokal-metric-rss "$bin" query "${range[@]}" "$3")
    t1=$(date +%s.%N)
    dt=$(python3 -c "print($t1-$t0)")
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $dt < $best else 1)"; then best=$dt; rss=$(cat /tmp/lokal-metric-rss); fi
  done
  local series points
  series=$(echo "$out" | python3 -c "import json,sys; print(len(json.load(sys.stdin)['data']['result']))")
  points=$(echo "$out" | python3 -c "import json,sys; print(sum(len(s['values']) for s in json.load(sys.stdin)['data']['result']))")
  printf '%-44s %8.3f %9.0f %8.0f %6s %8s\n' "$1" "$best" "$(python3 -c "print($raw/1e6/$best)")" "$((rss/1024))" "$series" "$points"
}
printf '%-44s %8s %9s %8s %6s %8s\n' query seconds "MB/s" "peak MB" series points
run "sum by (level) (count_over_time(json [5m]))" "api-gateway|checkout" \
  'sum by (level) (count_over_time({job=~"api-gateway|checkout"} | json [5m]))'
run "quantile_over_time(0.99, logfmt unwrap) by (service)" "payments|inventory" \
  'quantile_over_time(0.99, {job=~"payments|inventory"} | logfmt | unwrap duration_ms [5m]) by (service)'
run "count_over_time({job=~\".+\"} [5m])" "[^/]+" \
  'sum(count_over_time({job=~".+"} [5m]))'
