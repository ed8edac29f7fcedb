#!/usr/bin/env bash
# Push benchmark: the same entries into a fresh real Grafana Loki 3.7.6 (../shared/loki), three
# ways, in one run:
#   1. lokal push (protobuf + snappy, promtail's wire), 1 MiB batches;
#   2. lokal push --format json (Loki's JSON push body), 1 MiB batches;
#   3. ../shared/loki/push_to_loki.py (Python, JSON bodies of 3,000 entries, as the tests'
#      reference pusher), fed the same entries exported oldest first with `lokal query -o jsonl`.
# Each into its own fresh Loki (a Loki that has an entry already stores a resend as a no-op,
# which would flatter the second run). Times the push only (not Loki's flush), checks Loki's
# count after a flush, prints entries/s and MB/s of line bytes.
#
#   bench/push.sh [SIZE]      # corpus size for ../shared/data/gen_corpus.py, default 64M
#
# Not a test: nothing is asserted about time. Needs zstd, curl, python3; builds lokal in
# release mode unless LOKAL_BIN names a binary. Work files go under bench/out/ and are removed
# at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-64M}
. bench/lib.sh
bench_lokal_bin
bin=$LOKAL_BIN
bench_workdir bench/out/push

python3 "$shared/data/gen_corpus.py" --out "$out/corpus" --size "$size" --hours 2 --procs 2 >/dev/null
store=$out/store
"$bin" --store "$store" ingest -q --label-from-path '/(?P<job>[^/]+)/(?P<host>[^/]+)\.log$' \
  $(find "$out/corpus" -name '*.log' | sort)
# Per UTC day: entries and line bytes (lokal's own timestamps: lines without a year, as
# syslog's, may land outside the corpus' 2 hours).
"$bin" --store "$store" stats -o json >"$out/stats.json"
read -r entries line_bytes days < <(python3 -c '
import json, sys
rows = json.load(open(sys.argv[1]))
print(sum(r["entries"] for r in rows), sum(r["bytes_raw"] for r in rows), ",".join(r["day"] for r in rows))' "$out/stats.json")
"$bin" --store "$store" query --forward -o jsonl --limit 0 -z UTC '{job=~".+"}' >"$out/export.jsonl"
# Loki stores an identical (timestamp, line) of a stream once (continuation lines that took the
# previous line's timestamp repeat): its count is that of the distinct entries.
distinct=$(python3 -c '
import json, sys
print(len({(json.dumps(r["labels"], sort_keys=True), r["timestamp"], r["line"])
           for r in map(json.loads, open(sys.argv[1]))}))' "$out/export.jsonl")

count() { # after a flush: Loki's count, summed over the days lokal holds
  curl -sf -XPOST "$addr/flush" >/dev/null
  local n=0
  for _ in $(seq 1 180); do
    n=$(python3 - "$addr" "$days" <<'PY'
import json, sys, urllib.parse, urllib.request, datetime
addr, days = sys.argv[1], sys.argv[2].split(",")
total = 0
for d in days:
    day = datetime.datetime.strptime(d, "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc)
    t = int((day + datetime.timedelta(days=1)).timestamp()) * 10**9 - 1  # [day, day + 1d)
    q = urllib.parse.urlencode({"query": 'sum(count_over_time({job=~".+"}[1d]))', "time": str(t)})
    r = json.load(urllib.request.urlopen(addr + "/loki/api/v1/query?" + q, timeout=300))["data"]["result"]
    total += int(float(r[0]["value"][1])) if r else 0
print(total)
PY
)
    [ "$n" -ge "$distinct" ] && break
    sleep 1
  done
  echo "$n"
}
now() { date +%s.%N; }
row() { # NAME SECONDS COUNT: entries/s and MB/s of what lokal holds; Loki's count must be the
  # distinct entries of the export (lines that are not UTF-8 come out as U+FFFD there, so a
  # protobuf push, which keeps their bytes, may store a few more)
  python3 -c "
import sys
name, s, n, e, b, d = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
ok = d <= n <= e
print(f'{name:<34} {s:8.2f} {e/s:12,.0f} {b/s/1e6:9.1f} {n:>10}{\"\" if ok else \"  (MISMATCH)\"}')" "$@" "$entries" "$line_bytes" "$distinct"
}

echo "corpus: $entries entries ($distinct distinct), $(python3 -c "print(f'{$line_bytes/1e6:.1f}')") MB of lines ($size from gen_corpus.py, 2 hours; days $days)"
echo "machine: $(nproc) cores, $(uname -sr); load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-34s %8s %12s %9s %10s\n' "pusher" "seconds" "entries/s" "MB/s" "Loki count"

start_loki proto
t0=$(now); "$bin" --store "$store" push -q --addr "$addr"; t1=$(now)
row "lokal push (protobuf+snappy)" "$(python3 -c "print($t1-$t0)")" "$(count)"
stop_loki proto

start_loki json
t0=$(now); "$bin" --store "$store" push -q --format json --addr "$addr"; t1=$(now)
row "lokal push --format json" "$(python3 -c "print($t1-$t0)")" "$(count)"
stop_loki json

start_loki py
t0=$(now)
python3 -u "$shared/loki/push_to_loki.py" --addr "$addr" --dataset "$out/export.jsonl" | while read -r l; do
  case "$l" in pushed*) now >"$out/py.done" ;; esac
done || true
t1=$(cat "$out/py.done")
row "push_to_loki.py (JSON, 3000/batch)" "$(python3 -c "print($t1-$t0)")" "$(count)"
stop_loki py
