#!/usr/bin/env bash
# `lokal ingest --follow` and `lokal query --tail`, measured (issue 16):
#
#   bench/follow.sh [LOKAL_BIN]
#
# 1. catch-up throughput: a follower started on a file of LINES lines (default 2,000,000,
#    about 190 MB), until its committed position reaches the file's end;
# 2. live throughput: the same lines appended by a writer in 1 MiB writes while a follower runs;
# 3. append-to-visible latency: a writer appends one line every 100 ms (its own wall-clock time
#    in it), a follower commits it and a `query --tail -o raw` prints it; the delay from the
#    append to the printed line, p50 / p90 / max over SAMPLES lines (default 100), for
#    --commit-interval 1s (the default) and 100ms;
# 4. an idle follower over N files (default 1,000): CPU time used and RSS over 30 s of idleness,
#    with inotify and with --no-inotify (250 ms polling).
# Not a test: nothing is asserted about time. Everything lives under bench/out/follow (removed
# at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/lokal}
BIN=$(realpath "$BIN")
LINES=${LINES:-2000000}
SAMPLES=${SAMPLES:-100}
NFILES=${NFILES:-1000}
OUT=bench/out/follow
rm -rf "$OUT" && mkdir -p "$OUT"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$OUT"
}
trap cleanup EXIT

python3 - "$OUT/big.log" "$LINES" <<'EOF'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        s = 1700000000 + i // 100
        f.write(f"2023-11-14T22:{(s // 60) % 60:02d}:{s % 60:02d}.{i % 100:02d}0000Z level=info "
                f"caller=app.go:{i % 400} msg=\"request served\" path=/api/v1/items/{i % 9973} "
                f"status=200 duration={i % 977}us\n")
EOF
SIZE=$(stat -c %s "$OUT/big.log")
echo "input: $LINES lines, $SIZE bytes"

# Waits until the follower's committed position for $1 reaches $2 bytes.
wait_offset() {
    python3 - "$OUT/store/fake/MANIFEST" "$1" "$2" <<'EOF'
import json, sys, time
m, key, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
while True:
    try:
        p = json.load(open(m))["positions"].get(key)
        if p and p["offset"] >= want:
            break
    except (OSError, ValueError):
        pass
    time.sleep(0.02)
EOF
}

# 1. Catch-up.
cp "$OUT/big.log" "$OUT/catchup.log"
t0=$(date +%s.%N)
"$BIN" --store "$OUT/store" ingest --follow -q --label job=b "$OUT/catchup.log" & pids+=($!)
wait_offset "$(realpath "$OUT/catchup.log")" "$SIZE"
t1=$(date +%s.%N)
kill -TERM "${pids[-1]}"; wait "${pids[-1]}" || true
python3 -c "import sys; d=$t1-$t0; print(f'catch-up: {d:.2f} s, {$SIZE/d/1e6:.0f} MB/s, {$LINES/d/1e3:.0f}k lines/s')"

# 2. Live appends.
: > "$OUT/live.log"
"$BIN" --store "$OUT/store" ingest --follow -q --label job=l "$OUT/live.log" & pids+=($!)
sleep 1
t0=$(date +%s.%N)
python3 - "$OUT/big.log" "$OUT/live.log" <<'EOF'
import sys
src, dst = sys.argv[1], sys.argv[2]
with open(src, "rb") as f, open(dst, "ab", buffering=0) as o:
    while True:
        b = f.read(1 << 20)
        if not b:
            break
        o.write(b)
EOF
wait_offset "$(realpath "$OUT/live.log")" "$SIZE"
t1=$(date +%s.%N)
kill -TERM "${pids[-1]}"; wait "${pids[-1]}" || true
python3 -c "d=$t1-$t0; print(f'live appends: {d:.2f} s, {$SIZE/d/1e6:.0f} MB/s, {$LINES/d/1e3:.0f}k lines/s')"

# 3. Append-to-visible latency.
for interval in 1s 100ms; do
    : > "$OUT/lat-$interval.log"
    # The follower's commits, time-stamped as they are reported (LOKAL_TEST_TRACE).
    LOKAL_TEST_TRACE=1 "$BIN" --store "$OUT/store" ingest --follow -q --commit-interval "$interval" --label "job=lat$interval" "$OUT/lat-$interval.log" \
        2> >(python3 -u -c 'import sys, time
for l in sys.stdin:
    print(time.time_ns(), l, end="", flush=True)' > "$OUT/trace-$interval") & pids+=($!)
    "$BIN" --store "$OUT/store" query --tail -q --limit 0 -o raw "{job=\"lat$interval\"}" > "$OUT/tail-$interval.out" & pids+=($!)
    sleep 1
    python3 - "$OUT/lat-$interval.log" "$OUT/tail-$interval.out" "$SAMPLES" "$interval" "$OUT/trace-$interval" <<'EOF'
import bisect, sys, threading, time
log, out, n, interval, trace = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
sent, seen = {}, {}
def read():
    # Reads the tail's output as it grows: a line is seen at most 2 ms late.
    deadline = time.time() + 60
    with open(out) as r:
        while len(seen) < n and time.time() < deadline:
            line = r.readline()
            if not line:
                time.sleep(0.002)
                continue
            seen[int(line.split("seq=")[1].split()[0])] = time.time_ns()
reader = threading.Thread(target=read)
reader.start()
with open(log, "a", buffering=1) as f:
    for i in range(n):
        t = time.time_ns()
        sent[i] = t
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(t / 1e9))}Z seq={i} sent={t}\n")
        time.sleep(0.1)
reader.join()
lat = sorted((seen[i] - sent[i]) / 1e6 for i in seen)
if lat:
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
    print(f"append-to-visible (--commit-interval {interval}): {len(lat)}/{n} lines, "
          f"p50 {q(0.5):.0f} ms, p90 {q(0.9):.0f} ms, max {lat[-1]:.0f} ms")
# Commit-to-visible: from the last commit the follower reported before a
# line was printed.
commits = sorted(int(l.split()[0]) for l in open(trace) if l.rstrip().endswith("lokal-trace: commit"))
vis = sorted((t - commits[bisect.bisect_right(commits, t) - 1]) / 1e6
             for t in seen.values() if bisect.bisect_right(commits, t) > 0)
if vis:
    q = lambda p: vis[min(len(vis) - 1, int(p * len(vis)))]
    print(f"commit-to-visible (--commit-interval {interval}): p50 {q(0.5):.0f} ms, "
          f"p90 {q(0.9):.0f} ms, max {vis[-1]:.0f} ms")
EOF
    kill -TERM "${pids[-1]}" "${pids[-2]}"; wait "${pids[-1]}" "${pids[-2]}" || true
done

# 4. Idle followers.
mkdir -p "$OUT/idle"
for i in $(seq 1 "$NFILES"); do echo "2024-01-01T00:00:00Z file $i" > "$OUT/idle/f$i.log"; done
for mode in inotify polling; do
    flag=(); [ "$mode" = polling ] && flag=(--no-inotify)
    rm -rf "$OUT/store-idle"
    "$BIN" --store "$OUT/store-idle" ingest --follow -q "${flag[@]}" --label job=idle "$OUT/idle/*.log" & pid=$!; pids+=($pid)
    sleep 3
    ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
    a=$(ticks); sleep 30; b=$(ticks)
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    hz=$(getconf CLK_TCK)
    python3 -c "print(f'idle over $NFILES files ($mode): {($b-$a)/$hz/30*100:.2f}% of a core, RSS {$rss/1024:.1f} MB')"
    kill -TERM "$pid"; wait "$pid" || true
done
