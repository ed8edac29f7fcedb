#!/usr/bin/env bash
# Cardinality benchmark: many small streams, lokal beside the real Loki, in one run.
#
#   bench/cardinality.sh [STREAMS...]          (default: 10000 100000 1000000)
#
# For each stream count S, a deterministic generator (below) writes S streams as a
# Kubernetes user would label them — job="app", ns (50 values), pod (one per stream) —
# with 5 short logfmt lines each, interleaved in time over 12 hours of 2024-05-01, as
# logcli `-o jsonl` records. Then, on those same entries:
#
# - lokal: `ingest --format logcli` into a fresh store (time, entries/s, jsonl MB/s, peak
#   RSS), store size (every file: segments, indexes, MANIFEST) beside `zstd -3` of the
#   lines alone and the bytes per stream beyond it, and the latency and peak RSS of a
#   one-stream query, `labels ns`, `series` on a narrow selector and a `sum by (ns)`
#   metric query (12 one-hour steps over every stream);
# - Loki 3.7.6 from ../shared/loki (skipped with a note when absent, or with LOKI=0):
#   the same entries pushed as JSON bodies of about 1 MB (built before the clock starts),
#   two connections at a time; time from the first push to the last answer and Loki's
#   peak RSS; after /flush, the same four requests over HTTP.
#
# Then lokal alone asks the questions that select every stream (issue 13: memory bounded
# whatever the selection): `{job="app"}` with --limit 100 both ways, a filter over every
# stream streamed with --limit 0 -o raw, a quantile by ns (raw samples), topk over a series
# per pod, and sum(rate) — a second table, each answer checked against the generator's.
# lokal's answers are checked against the generator's (entries of the stream, label
# values, series, the metric's sums per ns) and the script fails when they differ; Loki's
# are checked the same way and any difference is printed in the last column (Loki
# requests time out after LOKI_TIMEOUT seconds, default 120). Not a test: no timing is
# asserted.
# lokal's ingest merges the segments its batches wrote into the day at its end
# (`--compact=auto`). With COMPACT=1 the same corpus is also ingested with `--compact never`
# (time, peak RSS, bytes per stream) and that store compacted (`lokal compact`: time, peak
# RSS, segments before and after, bytes per stream beyond zstd -3 after), printed as rows of
# their own; the one-stream query is asked of the compacted store too.
# Figures go to bench/README.md. Work files under bench/out/card (git-ignored); OUT=dir
# moves them; LOKAL=path picks the binary (default: a release build of this tree).
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(10000 100000 1000000)
out=${OUT:-bench/out/card}
mkdir -p "$out"
out=$(realpath "$out")
if [ -z "${LOKAL:-}" ]; then
  cargo build --release --quiet
fi
bin=$(realpath "${LOKAL:-target/release/lokal}")
loki_dir=../shared/loki
use_loki=${LOKI:-1}
if [ "$use_loki" = 1 ] && [ ! -x "$loki_dir/start-loki.sh" ]; then
  echo "note: $loki_dir is absent: Loki's columns are skipped" >&2
  use_loki=0
fi
now() { date +%s.%N; }
py() { python3 -c "$1"; }

# gen S JSONL LINES: the corpus. Stream i gets entries k = p*S + j (p = 0..4) where
# j = the position of i in the permutation j -> (j*A) mod S, so every one-S stretch of the
# input holds each stream once and streams arrive in no label order; times rise with k.
gen() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys
S = int(sys.argv[1]); out = open(sys.argv[2], "w", buffering=1 << 20)
lines = open(sys.argv[3], "w", buffering=1 << 20)
PER = 5; N = S * PER
span_ms = 12 * 3600 * 1000
A = 7919 if S % 7919 else 104729
levels = ["info", "info", "info", "warn", "error"]
msgs = ["done", "started", "retry", "ok"]
statuses = ["200", "200", "201", "404", "500"]
x = 12345
for k in range(N):
    p, i = divmod(k, S)
    s = (i * A) % S
    x = (x * 1103515245 + 12345) & 0x7fffffff
    ms = k * span_ms // N
    sec, frac = divmod(ms, 1000)
    hh, rem = divmod(sec, 3600); mm, ss = divmod(rem, 60)
    line = "level=%s msg=%s status=%s" % (levels[x % 5], msgs[(x >> 3) % 4], statuses[(x >> 6) % 5])
    out.write('{"labels":{"job":"app","ns":"ns-%d","pod":"pod-%d"},"line":"%s","timestamp":"2024-05-01T%02d:%02d:%02d.%03dZ"}\n'
              % (s % 50, s, line, hh, mm, ss, frac))
    lines.write(line + "\n")
PY
}

# Loki push bodies: the jsonl cut into JSON push bodies of about 1 MB, one per line of
# BODIES, so that the pusher only sends bytes.
bodies() {
  python3 - "$1" "$2" <<'PY'
import calendar, json, sys, time
base = calendar.timegm(time.strptime("2024-05-01", "%Y-%m-%d")) * 10**9
out = open(sys.argv[2], "w")
streams, size = {}, 0
def flush():
    global streams, size
    if streams:
        out.write(json.dumps({"streams": [{"stream": json.loads(k), "values": v} for k, v in streams.items()]}) + "\n")
    streams, size = {}, 0
for line in open(sys.argv[1]):
    lab = line[10:line.index("}") + 1]
    rec = json.loads(line)
    t = rec["timestamp"]
    ns = base + ((int(t[11:13]) * 60 + int(t[14:16])) * 60 + int(t[17:19])) * 10**9 + int(t[20:23]) * 10**6
    streams.setdefault(lab, []).append([str(ns), rec["line"]])
    size += len(line)
    if size >= 1 << 20:
        flush()
flush()
PY
}

# push BODIES ADDR: posts every body, two connections at a time; prints the seconds.
push() {
  python3 - "$1" "$2" <<'PY'
import http.client, sys, threading, time, urllib.parse
bodies = [l.encode() for l in open(sys.argv[1])]
u = urllib.parse.urlparse(sys.argv[2])
errors = []
def worker(part):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    for b in part:
        c.request("POST", "/loki/api/v1/push", b, {"Content-Type": "application/json"})
        r = c.getresponse(); body = r.read()
        if r.status != 204:
            errors.append((r.status, body[:300]))
t0 = time.time()
ts = [threading.Thread(target=worker, args=(bodies[i::2],)) for i in range(2)]
for t in ts: t.start()
for t in ts: t.join()
print(time.time() - t0)
if errors:
    sys.exit("push failed: %r" % errors[:5])
PY
}

# timed LABEL CMD...: runs CMD, output in $out/ans.LABEL; prints "seconds peak_MB".
timed() {
  local label=$1 t0 t1
  shift
  t0=$(now)
  /usr/bin/time -f '%M %U %S' -o "$out/rss" "$@" > "$out/ans.$label"
  t1=$(now)
  read -r kb user sys < <(tail -1 "$out/rss")
  # CPU seconds (user + system) of the last timed command, for the notes.
  py "print(f'{$user + $sys:.2f}')" > "$out/cpu.$label"
  echo "$(py "print(f'{$t1-$t0:.3f}')") $(( kb / 1024 ))"
}

# curl_get PATH ARGS...: a Loki HTTP GET with --data-urlencode ARGS.
loki_get() {
  local path=$1
  shift
  local a=()
  for x in "$@"; do a+=(--data-urlencode "$x"); done
  curl -sfG --max-time "${LOKI_TIMEOUT:-120}" "http://127.0.0.1:$http$path" "${a[@]}"
}

from=2024-05-01T00:00:00Z
to=2024-05-01T12:00:00Z
one='{pod="pod-123"}'
narrow='{ns="ns-23", pod=~"pod-123|pod-1123|pod-2123"}'
metric='sum by (ns) (count_over_time({job="app"}[1h]))'
wide_grep='{job="app"} |= "status=500"'
wide_quant='quantile_over_time(0.99, {job="app"} | logfmt | unwrap status [1h]) by (ns)'
wide_topk='topk(5, sum by (pod) (count_over_time({job="app"}[1h])))'
wide_rate='sum(rate({job="app"}[1h]))'

rows=()
wrows=()
for S in "${counts[@]}"; do
  jsonl=$out/c$S.jsonl
  lines=$out/c$S.lines
  [ -f "$jsonl" ] || gen "$S" "$jsonl" "$lines"
  entries=$((S * 5))
  jmb=$(py "print(f'{$(stat -c %s "$jsonl")/1e6:.1f}')")
  zsize=$(zstd -3 -T1 -q -c "$lines" | wc -c)
  cat "$jsonl" > /dev/null

  store=$out/store-$S
  rm -rf "$store"
  read -r li_s li_mb <<<"$(timed ingest "$bin" --store "$store" ingest -o json --format logcli "$jsonl")"
  # Everything the store holds: segments, indexes, MANIFEST.
  stored=$(du -sb "$store" | cut -f1)
  echo "lokal, $S streams: $(find "$store" -name '*.seg' | wc -l) segment(s) after the ingest;" \
    "$(py "import json; r = json.load(open('$out/ans.ingest')); print(f\"{r['commits']} commits, {r['days_merged']} day(s) merged at the end in {r['merge_ms']} ms, index {r['index_ms']} ms\")");" \
    "CPU $(cat "$out/cpu.ingest") s" >&2
  q=("$bin" --store "$store" query --from $from --to $to)
  read -r lq1_s lq1_mb <<<"$(timed l1 "${q[@]}" --limit 0 -o jsonl "$one")"
  read -r llb_s llb_mb <<<"$(timed llb "$bin" --store "$store" labels --from $from --to $to ns)"
  read -r lse_s lse_mb <<<"$(timed lse "$bin" --store "$store" series --from $from --to $to "$narrow")"
  read -r lme_s lme_mb <<<"$(timed lme "${q[@]}" --step 1h -o json "$metric")"
  # lokal's answers against the generator's truth: fatal.
  python3 - "$out" "$S" <<'PY'
import json, sys
d, S = sys.argv[1], int(sys.argv[2])
a = lambda n: open(f"{d}/ans.{n}").read()
assert len(a("l1").splitlines()) == 5, "lokal: one stream"
assert sorted(a("llb").split()) == sorted(f"ns-{n}" for n in range(50)), "lokal: labels ns"
want = sorted('{job="app", ns="ns-23", pod="%s"}' % p for p in ("pod-123", "pod-1123", "pod-2123")
              if int(p[4:]) < S)
assert sorted(a("lse").splitlines()) == want, "lokal: series %r" % a("lse")[:300]
m = {s["metric"]["ns"]: sum(float(v[1]) for v in s["values"]) for s in json.loads(a("lme"))["data"]["result"]}
assert m == {f"ns-{n}": 5 * len(range(n, S, 50)) for n in range(50)}, "lokal: sum by (ns)"
PY

  # The questions over every stream, lokal alone.
  read -r w1_s w1_mb <<<"$(timed w1 "${q[@]}" --limit 100 -o raw '{job="app"}')"
  read -r w2_s w2_mb <<<"$(timed w2 "${q[@]}" --limit 100 --forward -o raw '{job="app"}')"
  # The streamed filter over every stream is stopped after WIDE_TIMEOUT seconds (default
  # 300), a guard: at a million streams in one segment it took 6 minutes when each run read
  # its packed block again; it now reads each block once for all of its runs (about 5 s of
  # CPU; bench/README.md).
  read -r w3_s w3_mb <<<"$(timed w3 timeout "${WIDE_TIMEOUT:-300}" "${q[@]}" --limit 0 -o raw "$wide_grep")"
  w3_note="$(wc -l < "$out/ans.w3") lines"
  export W3_STOPPED=0
  if py "import sys; sys.exit(0 if $w3_s >= ${WIDE_TIMEOUT:-300} else 1)"; then
    W3_STOPPED=1
    w3_note="stopped after ${WIDE_TIMEOUT:-300} s, $w3_note printed"
  fi
  read -r w4_s w4_mb <<<"$(timed w4 "${q[@]}" --step 1h -o json "$wide_quant")"
  read -r w5_s w5_mb <<<"$(timed w5 "${q[@]}" --step 1h -o json "$wide_topk")"
  read -r w6_s w6_mb <<<"$(timed w6 "${q[@]}" --step 1h -o json "$wide_rate")"
  python3 - "$out" "$S" "$lines" <<'PY'
import json, sys
d, S, lines = sys.argv[1], int(sys.argv[2]), sys.argv[3]
a = lambda n: open(f"{d}/ans.{n}").read()
# The generator's entries again: k -> (stream, ms, line); times rise with k.
PER = 5; N = S * PER; span_ms = 12 * 3600 * 1000
A = 7919 if S % 7919 else 104729
text = open(lines).read().splitlines()
assert len(text) == N
assert a("w1").splitlines() == text[::-1][:100], "lokal: limit 100"
assert a("w2").splitlines() == text[:100], "lokal: limit 100 --forward"
import os
w3 = [l for l in reversed(text) if "status=500" in l]
if os.environ["W3_STOPPED"] == "1":
    got = a("w3").splitlines()[:-1]  # the last may be cut
    assert got == w3[:len(got)], "lokal: --limit 0 |= (stopped)"
else:
    assert a("w3").splitlines() == w3, "lokal: --limit 0 |="
H = 3600 * 1000
steps = range(13)  # 00:00 .. 12:00, windows (t - 1h, t]
per = {}  # (ns, step) -> statuses
counts = [0] * 13
for k, line in enumerate(text):
    i = k % S
    s = (i * A) % S
    ms = k * span_ms // N
    st = -(-ms // H)  # the one window (st-1 h, st h] holding ms
    per.setdefault((s % 50, st), []).append(float(line.rsplit("=", 1)[1]))
    counts[st] += 1
def quantile(q, v):
    v = sorted(v)
    rank = q * (len(v) - 1)
    lo = int(rank)
    w = rank - lo
    return v[lo] * (1.0 - w) + v[min(lo + 1, len(v) - 1)] * w
base = 1714521600
got = {(int(r["metric"]["ns"][3:]), (int(t) - base) // 3600): float(v)
       for r in json.loads(a("w4"))["data"]["result"] for t, v in r["values"]}
want = {k: quantile(0.99, v) for k, v in per.items()}
assert got == want, "lokal: quantile by (ns)"
top = {}
for r in json.loads(a("w5"))["data"]["result"]:
    for t, v in r["values"]:
        top.setdefault((int(t) - base) // 3600, []).append(float(v))
# Each stream has at most one entry in an hour: the top 5 are ones where 5 streams have one.
assert {k: v for k, v in top.items()} == {st: [1.0] * min(5, counts[st]) for st in steps if counts[st]}, "lokal: topk"
rate = {(int(t) - base) // 3600: float(v) for r in json.loads(a("w6"))["data"]["result"] for t, v in r["values"]}
assert set(rate) == {st for st in steps if counts[st]}, "lokal: sum(rate) steps"
for st, v in rate.items():
    assert abs(v - counts[st] / 3600) <= 1e-9 * v, "lokal: sum(rate) at %d: %r" % (st, v)
PY
  wrows+=("| $S | ${w1_s}s ${w1_mb}MB | ${w2_s}s ${w2_mb}MB | ${w3_s}s ${w3_mb}MB ($w3_note) | ${w4_s}s ${w4_mb}MB | ${w5_s}s ${w5_mb}MB | ${w6_s}s ${w6_mb}MB |")

  if [ "${COMPACT:-0}" = 1 ]; then
    # The same ingest left as its batches wrote it (--compact=never), then compacted.
    cstore=$out/store-$S-compacted
    rm -rf "$cstore"
    read -r ln_s ln_mb <<<"$(timed ingestn "$bin" --store "$cstore" ingest -q --format logcli --compact never "$jsonl")"
    nstored=$(du -sb "$cstore" | cut -f1)
    before=$(find "$cstore" -name '*.seg' | wc -l)
    read -r lc_s lc_mb <<<"$(timed compact "$bin" --store "$cstore" compact)"
    after=$(find "$cstore" -name '*.seg' | wc -l)
    cstored=$(du -sb "$cstore" | cut -f1)
    read -r lc1_s lc1_mb <<<"$(timed lc1 "$bin" --store "$cstore" query --from $from --to $to --limit 0 -o jsonl "$one")"
    cmp -s "$out/ans.l1" "$out/ans.lc1" || { echo "lokal: the compacted store answers $one differently" >&2; exit 1; }
    echo "| $S --compact=never | ingest: $ln_s s, CPU $(cat "$out/cpu.ingestn") s, $ln_mb MB; store $(py "print(f'{$nstored/1e6:.2f}')") MB: $(py "print(f'{($nstored-$zsize)/$S:.0f}')") B/stream beyond zstd -3 |"
    echo "| $S compacted | compact: $lc_s s, CPU $(cat "$out/cpu.compact") s, $lc_mb MB peak RSS; segments $before -> $after | store $(py "print(f'{$cstored/1e6:.2f}')") MB: $(py "print(f'{($cstored-$zsize)/$S:.0f}')") B/stream beyond zstd -3 | one stream ${lc1_s}s ${lc1_mb}MB |"
    rm -rf "$cstore"
  fi

  lo_s=- lo_mb=- lq1=- llb=- lse=- lme=- loki_note=
  if [ "$use_loki" = 1 ]; then
    [ -f "$out/c$S.bodies" ] || bodies "$jsonl" "$out/c$S.bodies"
    http=$(py "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
    grpc=$(py "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
    ldir=$(mktemp -d "$out/loki-XXXXXX")
    pid=$("$loki_dir/start-loki.sh" "$ldir" "$http" "$grpc")
    trap 'kill $pid 2>/dev/null || true' EXIT
    lo_s=$(push "$out/c$S.bodies" "http://127.0.0.1:$http")
    lo_mb=$(( $(awk '/VmHWM/ {print $2}' "/proc/$pid/status") / 1024 ))
    received=$(curl -sf "http://127.0.0.1:$http/metrics" |
      awk '/^loki_distributor_lines_received_total/ {n += $2} END {printf "%d", n}')
    curl -sf -X POST "http://127.0.0.1:$http/flush" > /dev/null
    # Flushed when no chunk is left in the ingester's memory.
    for _ in $(seq 900); do
      left=$(curl -sf "http://127.0.0.1:$http/metrics" | awk '/^loki_ingester_memory_chunks / {print $2}')
      [ "$left" = 0 ] && break
      sleep 1
    done
    lt() {
      local label=$1 t0 t1
      shift
      t0=$(now)
      if loki_get "$@" > "$out/ans.$label"; then
        t1=$(now)
        py "print(f'{$t1-$t0:.3f}')"
      else
        echo "timeout"
        echo '{"data":{"result":[]}}' > "$out/ans.$label"
      fi
    }
    lq1=$(lt k1 /loki/api/v1/query_range "query=$one" start=$from end=$to limit=5000)
    llb=$(lt klb /loki/api/v1/label/ns/values start=$from end=$to)
    lse=$(lt kse /loki/api/v1/series "match[]=$narrow" start=$from end=$to)
    lme=$(lt kme /loki/api/v1/query_range "query=$metric" start=$from end=$to step=3600)
    lo_mb2=$(( $(awk '/VmHWM/ {print $2}' "/proc/$pid/status") / 1024 ))
    kill "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.5; done
    trap - EXIT
    rm -rf "$ldir"
    # Loki's answers beside the truth (the generator's): reported, not
    # fatal, since this Loki build's answers are what is measured.
    loki_note=$(python3 - "$out" "$S" <<'PY'
import json, sys
d, S = sys.argv[1], int(sys.argv[2])
a = lambda n: json.load(open(f"{d}/ans.{n}"))
notes = []
k1 = a("k1")["data"]["result"]
if sum(len(s["values"]) for s in k1) != 5: notes.append("one stream: %d entries" % sum(len(s["values"]) for s in k1))
km = {s["metric"].get("ns"): sum(float(v[1]) for v in s["values"]) for s in a("kme")["data"]["result"]}
if km:
    want = {f"ns-{n}": 5 * len(range(n, S, 50)) for n in range(50)}
    got = sum(km.values())
    if km != want: notes.append("sum by (ns): %d of %d entries" % (got, 5 * S))
print("; ".join(notes))
PY
)
    [ "$received" = "$entries" ] || loki_note="received $received lines; $loki_note"
    [ -z "$loki_note" ] || loki_note="$loki_note (received all $entries)"
    [ "$received" = "$entries" ] || loki_note=${loki_note% (received all*}
    lo_mb="$lo_mb/$lo_mb2"
  fi
  rows+=("$(printf '| %s (%s entries; %s MB jsonl) | %s s, %s entries/s, %s MB/s, %s MB | %s s, %s entries/s, %s MB | %s | %s MB / %s MB zstd -3: %s B/stream | %s / %s | %s / %s | %s / %s | %s / %s | %s |' \
    "$S" "$entries" "$jmb" "$li_s" "$(py "print(f'{$entries/$li_s/1e3:.0f}k')")" \
    "$(py "print(f'{$(stat -c %s "$jsonl")/1e6/$li_s:.0f}')")" "$li_mb" \
    "$lo_s" "$( [ "$lo_s" = - ] && echo - || py "print(f'{$entries/$lo_s/1e3:.0f}k')")" "$lo_mb" \
    "$( [ "$lo_s" = - ] && echo - || py "print(f'{$lo_s/$li_s:.1f}x')")" \
    "$(py "print(f'{$stored/1e6:.2f}')")" "$(py "print(f'{$zsize/1e6:.2f}')")" \
    "$(py "print(f'{($stored-$zsize)/$S:.0f}')")" \
    "${lq1_s}s ${lq1_mb}MB" "$lq1" "${llb_s}s ${llb_mb}MB" "$llb" \
    "${lse_s}s ${lse_mb}MB" "$lse" "${lme_s}s ${lme_mb}MB" "$lme" "${loki_note:-}")")
  echo "${rows[-1]}"
  rm -rf "$store"
done

echo
echo "$(nproc) cores; lokal $(git rev-parse --short HEAD); queries: one stream $one, labels ns, series $narrow, $metric at 1h steps over 12 h"
echo "| streams | lokal ingest (time, entries/s, jsonl MB/s, peak RSS) | Loki push (time, entries/s, peak RSS push/after queries) | lokal speed-up | lokal store / zstd -3 of the lines | one stream lokal / Loki | labels ns | series | sum by (ns) | Loki's answers |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
echo
echo "lokal alone, questions over every stream (answers checked against the generator's): the filter"
echo "is $wide_grep; quantile: $wide_quant; topk: $wide_topk; rate: $wide_rate (1h steps over 12 h)"
echo "| streams | limit 100 | limit 100 --forward | filter, --limit 0 -o raw | quantile by (ns) | topk by pod | sum(rate) |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${wrows[@]}"
