#!/usr/bin/env bash
# Re-record the differential suite's fixtures from the real Grafana Loki 3.7.6.
#
#   scripts/diff-record.sh            # LOKI_DIR defaults to ../shared/loki
#
# Unpacks and starts Loki on two free loopback ports, builds the fixed dataset, pushes it
# (push_to_loki.py flushes and checks Loki's count), records every query of
# tests/diff/queries.tsv with record.py into tests/diff/expected/ (run twice; any UNSTABLE
# or EXPECT-MISMATCH answer fails the script), records Loki's full responses, stats
# included, for the ids in FULL_IDS into tests/diff/full/, then stops Loki and removes its
# directory. The output replaces both folders whole, so a query dropped from queries.tsv
# loses its fixture. Re-running it reproduces the committed files byte for byte (the
# timing fields of full/ are zeroed; see tests/diff/README.md). Exits non-zero on any
# problem, and then leaves the committed fixtures as they were.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
loki_dir=${LOKI_DIR:-$root/../shared/loki}
suite=$root/tests/diff
queries=$suite/queries.tsv
max_bytes=200000

# Full responses: log (both directions, empty), metric range (aligned, unaligned grid,
# scalar literal), instant (vector, sorted vector, scalar), errors (parse, evaluation,
# instant log query).
FULL_IDS=(log_limit_backward log_cross_stream_limit_forward sel_no_match range_count
  grid_unaligned_start_5m fn_scalar_literal inst_sum_by inst_sort_desc fn_inst_scalar
  err_unquoted_value err_many_to_one err_instant_log_query)

for f in start-loki.sh make_dataset.py push_to_loki.py record.py loki-3.7.6-linux-amd64.zst; do
  [ -e "$loki_dir/$f" ] || { echo "diff-record: $loki_dir/$f is missing (set LOKI_DIR)" >&2; exit 1; }
done
for tool in python3 curl zstd; do
  command -v "$tool" >/dev/null || { echo "diff-record: $tool is required" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/diff-record.XXXXXX")
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    # Loki flushes on shutdown; give it up to 60 s before the hard stop
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# two free loopback ports (bound and released by the kernel's choice)
read -r http grpc < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
for s in socks:
    s.close()')
addr=http://127.0.0.1:$http

echo "== starting Loki on $addr (gRPC $grpc)"
pid=$("$loki_dir/start-loki.sh" "$work/loki" "$http" "$grpc")
echo "== dataset"
python3 "$loki_dir/make_dataset.py" --out "$work/dataset.jsonl" 2>"$work/dataset.txt"
head -1 "$work/dataset.txt"
python3 "$loki_dir/push_to_loki.py" --addr "$addr" --dataset "$work/dataset.jsonl"

echo "== recording $(($(wc -l <"$queries") - 1)) queries"
if ! python3 "$loki_dir/record.py" --addr "$addr" --queries "$queries" --out "$work/expected" \
    >"$work/record.txt"; then
  grep -E 'UNSTABLE|EXPECT-MISMATCH' "$work/record.txt" >&2 || true
  tail -1 "$work/record.txt" >&2
  echo "diff-record: record.py reported problems; fixtures left unchanged" >&2
  exit 1
fi
tail -1 "$work/record.txt"

echo "== full responses for ${#FULL_IDS[@]} queries"
python3 - "$addr" "$queries" "$work/full" "${FULL_IDS[@]}" <<'PY'
"""Loki's whole HTTP answer for a few queries, with the same parameters as record.py.

Success: the body exactly as Loki sent it, except that the run-dependent timing numbers
(keys ending in Time, PerSecond, Duration or Latency) are set to 0. Errors (Loki answers in
plain text): {"httpStatus":N,"contentType":"...","body":"..."}.
"""
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

addr, queries, out, ids = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
with open(queries, encoding="utf-8") as f:
    lines = f.read().split("\n")
cols = lines[0].split("\t")
rows = {r["id"]: r for r in (dict(zip(cols, ln.split("\t"))) for ln in lines[1:] if ln)}
volatile = re.compile(rb'("[A-Za-z]*(?:Time|PerSecond|Duration|Latency)"):-?[0-9][0-9.eE+-]*')
os.makedirs(out, exist_ok=True)
for id in ids:
    row = rows[id]  # a KeyError here means FULL_IDS names a query that is gone
    if row["kind"] == "instant":
        path, p = "/loki/api/v1/query", {"query": row["query"], "time": row["end"]}
    else:
        path = "/loki/api/v1/query_range"
        p = {"query": row["query"], "start": row["start"], "end": row["end"]}
        if row["step"]:
            p["step"] = row["step"]
        if row["limit"]:
            p["limit"] = row["limit"]
        p["direction"] = row["direction"] or "backward"
    try:
        with urllib.request.urlopen(addr + path + "?" + urllib.parse.urlencode(p), timeout=300) as r:
            status, ctype, body = r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        status, ctype, body = e.code, e.headers.get("Content-Type"), e.read()
    if status >= 400:
        data = json.dumps({"httpStatus": status, "contentType": ctype, "body": body.decode("utf-8")},
                          ensure_ascii=False).encode("utf-8") + b"\n"
    else:
        json.loads(body)  # must be JSON
        data = volatile.sub(rb"\1:0", body.rstrip(b"\n")) + b"\n"
    with open(os.path.join(out, id + ".json"), "wb") as f:
        f.write(data)
    print("  %-32s HTTP %d %6d B" % (id, status, len(data)))
PY

big=$(find "$work/expected" "$work/full" -name '*.json' -size +"$max_bytes"c)
if [ -n "$big" ]; then
  echo "diff-record: answers over $max_bytes bytes:" >&2
  echo "$big" >&2
  exit 1
fi

rm -rf "$suite/expected" "$suite/full"
mv "$work/expected" "$suite/expected"
mv "$work/full" "$suite/full"
echo "== wrote $(find "$suite/expected" -name '*.json' | wc -l) answers to tests/diff/expected," \
  "$(find "$suite/full" -name '*.json' | wc -l) to tests/diff/full ($(du -sh "$suite/expected" | cut -f1) + $(du -sh "$suite/full" | cut -f1))"
