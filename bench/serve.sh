#!/usr/bin/env bash
# Load test of `lokal serve` beside the real Grafana Loki 3.7.6 (../shared/loki), in one run:
# the differential dataset (../shared/loki/make_dataset.py, 24,757 entries, 34 streams) in a
# lokal store and in a fresh Loki (flushed), then for each server in turn N client threads
# send a fixed mix of query_range (log, filter, metric), instant query, labels, label values
# and series requests for SECONDS while a writer pushes 500-entry batches with the current
# time to the same server (bench/serve_load.py). Every answer is checked against the one
# recorded before the load: no failed request, no partial answer. Prints req/s, p50 and p99.
#
#   bench/serve.sh [CLIENTS] [SECONDS]        # defaults 8 and 20
#   LOKAL_BIN=path/to/lokal bench/serve.sh    # skip the release build
#
# Not a test: nothing is asserted about time (the script fails only on a failed or wrong
# answer). Needs zstd, curl, python3. Servers listen on free loopback ports; work files go
# under bench/out/serve and are removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-8}
seconds=${2:-20}
. bench/lib.sh
bench_lokal_bin
bench_workdir bench/out/serve

python3 "$shared/loki/make_dataset.py" --out "$out/ds.jsonl" >/dev/null
"$LOKAL_BIN" --store "$out/store" ingest --format logcli -q "$out/ds.jsonl"

start_loki loki
python3 "$shared/loki/push_to_loki.py" --addr "$addr" --dataset "$out/ds.jsonl" >/dev/null 2>&1

sport=$(free_port)
"$LOKAL_BIN" --store "$out/store" serve --listen "127.0.0.1:$sport" --workers 4 \
  2> "$out/serve.err" &
echo $! > "$out/serve.pid"
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$sport/ready" >/dev/null && break
  sleep 0.1
done

echo "# $clients clients, ${seconds}s each, while 500-entry pushes run; nproc=$(nproc)"
python3 bench/serve_load.py --addr "http://127.0.0.1:$sport" --clients "$clients" \
  --seconds "$seconds" --name "lokal serve" | tee "$out/lokal.json"
python3 bench/serve_load.py --addr "$addr" --clients "$clients" \
  --seconds "$seconds" --name "loki 3.7.6" | tee "$out/loki.json"
python3 - "$out/lokal.json" "$out/loki.json" <<'EOF'
import json, sys
rows = [json.load(open(p)) for p in sys.argv[1:]]
print(f"{'server':<12} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'failed':>7} {'pushed':>8}")
for r in rows:
    print(f"{r['server']:<12} {r['req_per_s']:>8} {r['p50_ms']:>8} {r['p99_ms']:>8} "
          f"{r['requests']:>9} {r['failed']:>7} {r['pushed_entries']:>8}")
bad = [r for r in rows if r["failed"]]
if bad:
    sys.exit("failed or wrong answers: " + "; ".join(f"{r['server']}: {r['first_failures']}" for r in bad))
EOF
