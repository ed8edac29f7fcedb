#!/usr/bin/env bash
# Compaction benchmark (issue 12), side by side in one run, on the 1 GiB corpus:
#
#   bench/compact.sh [CORPUS_DIR]     RUNS=3 query runs each (best reported)
#   GRID=1 bench/compact.sh           also compaction at zstd levels x block sizes
#                                     (GRID_LEVELS="3 5 7", GRID_BLOCKS="1MiB 2MiB 4MiB")
#   KEEP=1 WORK=DIR bench/compact.sh  keep the stores in DIR; REUSE=1 then skips the ingests
#   OLD=path/to/lokal bench/compact.sh  also compact copies of `many` with another build,
#                                     alternating with this one (old, new, old, new, ...)
#
# Stores built:
#   one     the corpus in one `lokal ingest` (its 128 MiB batches): the query reference
#   many    the corpus in 100 ingests from cron: before each, the next hundredth of every
#           file's lines is appended to it, and `lokal ingest` reads what is new (many
#           small segments with small blocks)
#   compact a copy of `many` after `lokal compact`
# Prints compaction MB/s (raw line bytes per second of wall time, 2 cores) and its CPU
# time (user + system; other sessions' builds on the machine disturb it far less than
# the wall time), peak RSS, the stores' sizes beside `zstd -3` and `zstd -9` of the same
# raw bytes (one stream of the files concatenated), and full-scan, selective, limit and
# metric query times on each store, the stores alternated in every run so they see the
# same machine noise. Answers must be identical on all three stores (the script fails
# otherwise). Not a test: nothing is asserted about time. Figures go to bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-bench/out/corpus-1g}
runs=${RUNS:-3}
if [ ! -f "$corpus/manifest.csv" ]; then
  python3 ../shared/data/gen_corpus.py --out "$corpus" --size 1G --procs 2
fi
cargo build --release --quiet
bin=$PWD/target/release/lokal
work=${WORK:-$(mktemp -d /tmp/lokal-compact-XXXXXX)}
mkdir -p "$work"
if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$work"' EXIT; fi
files=$(cd "$corpus" && find . -name '*.log' | sort | sed 's|^\./||')
labels='/(?P<job>[^/]+)/(?P<host>[^/]+)\.log$'
raw=$(cd "$corpus" && cat $files | wc -c)
size_of() { du -sb --exclude=lokal.lock "$1" | cut -f1; }
secs() { python3 -c "print($2-$1)"; }

if [ "${REUSE:-0}" = 1 ] && [ -f "$work/zstd" ]; then
  read -r z3 z9 < "$work/zstd"
else
  # The raw bytes as one stream, for zstd's sizes.
  (cd "$corpus" && cat $files) > "$work/raw"
  z3=$(zstd -3 -T1 -q -c "$work/raw" | wc -c)
  z9=$(zstd -9 -T1 -q -c "$work/raw" | wc -c)
  rm -f "$work/raw"
  echo "$z3 $z9" > "$work/zstd"
fi

echo "corpus: $corpus, $((raw/1000000)) MB raw, $(nproc) cores, $runs query runs each, load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${REUSE:-0}" = 1 ] && [ -d "$work/many" ] && [ -d "$work/one" ]; then
  echo "(the stores of an earlier run, reused)"
else
  rm -rf "$work/one" "$work/many" "$work/slices" "$work/live"
  # 100 slices of every file, by lines, under slices/K/JOB/HOST.log.
  python3 - "$corpus" "$work/slices" <<'PY'
import os, sys
src, dst = sys.argv[1], sys.argv[2]
n = 100
for root, _, names in os.walk(src):
    for name in names:
        if not name.endswith('.log'):
            continue
        path = os.path.join(root, name)
        rel = os.path.relpath(path, src)
        with open(path, 'rb') as f:
            lines = f.readlines()
        per = (len(lines) + n - 1) // n
        for k in range(n):
            out = os.path.join(dst, f'{k:03d}', rel)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, 'wb') as f:
                f.writelines(lines[k * per:(k + 1) * per])
PY
  t0=$(date +%s.%N)
  (cd "$corpus" && "$bin" --store "$work/one" ingest -q --no-filename-label --label-from-path "$labels" $files)
  t1=$(date +%s.%N)
  echo "ingest in one run:        $(secs "$t0" "$t1") s"
  ingest_s=0
  for k in $(seq -f '%03g' 0 99); do
    for f in $files; do
      mkdir -p "$work/live/$(dirname "$f")"
      cat "$work/slices/$k/$f" >> "$work/live/$f"
    done
    t0=$(date +%s.%N)
    (cd "$work/live" && "$bin" --store "$work/many" ingest -q --no-filename-label --label-from-path "$labels" $files)
    t1=$(date +%s.%N)
    ingest_s=$(python3 -c "print($ingest_s + $t1 - $t0)")
  done
  echo "ingest in 100 runs:       $ingest_s s"
  rm -rf "$work/slices" "$work/live"
fi

# compact_copy NAME [ARGS...]: copies `many` to NAME and compacts it; prints wall
# seconds, CPU seconds and peak RSS (MB).
compact_copy() {
  local name=$1
  shift
  rm -rf "${work:?}/$name"
  cp -a "$work/many" "$work/$name"
  sync
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f '%M %U %S' -o "$work/rss" "${CBIN:-$bin}" --store "$work/$name" compact -q "$@"
  t1=$(date +%s.%N)
  read -r kb user sys < "$work/rss"
  echo "$(secs "$t0" "$t1") $(python3 -c "print($user + $sys)") $((kb / 1024))"
}
mbs() { python3 -c "print(f'{$raw/1e6/$1:.0f}')"; }

read -r cs ccpu crss <<<"$(compact_copy compact)"
echo "compact (defaults):       $cs s wall = $(mbs "$cs") MB/s raw; CPU $ccpu s = $(mbs "$ccpu") MB/s per CPU second; peak RSS $crss MB"
# Twice more, for the spread of the wall time on a shared machine.
for _ in 1 2; do
  read -r s2 c2 r2 <<<"$(compact_copy again)"
  echo "  again:                  $s2 s wall = $(mbs "$s2") MB/s raw; CPU $c2 s; peak RSS $r2 MB"
done
if [ -n "${OLD:-}" ]; then
  echo "old build $OLD beside this one, alternated (same store copied each time):"
  for _ in 1 2 3; do
    read -r os oc orss <<<"$(CBIN=$OLD compact_copy again)"
    echo "  old:                    $os s wall = $(mbs "$os") MB/s raw; CPU $oc s; peak RSS $orss MB"
    read -r ns nc nrss <<<"$(compact_copy again)"
    echo "  new:                    $ns s wall = $(mbs "$ns") MB/s raw; CPU $nc s; peak RSS $nrss MB"
  done
fi
rm -rf "${work:?}/again"
echo "  nothing left to do:     $( { /usr/bin/time -f '%e s' "$bin" --store "$work/compact" compact 2>&1 >/dev/null; } | tr '\n' ' ')"
echo
printf '%-34s %12s %10s %14s\n' store bytes "vs zstd -3" "of which data"
data_of() { echo $(( $(size_of "$1/segments") + $(size_of "$1/index") )); }
row() { printf '%-34s %12d %9.3fx %14d\n' "$1" "$2" "$(python3 -c "print($2/$z3)")" "${3:-$2}"; }
row "zstd -3 of the raw bytes" "$z3"
row "zstd -9 of the raw bytes" "$z9"
row "one ingest" "$(size_of "$work/one/fake")" "$(data_of "$work/one/fake")"
row "100 ingests" "$(size_of "$work/many/fake")" "$(data_of "$work/many/fake")"
row "100 ingests, compacted" "$(size_of "$work/compact/fake")" "$(data_of "$work/compact/fake")"
for s in one many compact; do
  "$bin" --store "$work/$s" stats -o json | python3 -c "
import json, sys
for d in json.load(sys.stdin):
    print(f\"  $s {d['day']}: {d['segments']} segments, {d['chunks']} chunks, {d['blocks']} blocks, avg block {d['block_raw_avg']/1e6:.2f} MB raw -> {d['block_stored_avg']/1e3:.0f} kB\")"
done

# Queries, each store in turn within every run.
q() { echo "\"$bin\" --store $work/\$S query --limit 0 -o raw '$1' | md5sum"; }
m() { echo "\"$bin\" --store $work/\$S query --from 2024-01-01T00:00:00Z --to 2024-01-02T00:00:00Z --step 1m -o json '$1' | python3 -c 'import json,sys; d=json.load(sys.stdin)[\"data\"][\"result\"]; print(len(d), sum(len(s[\"values\"]) for s in d), sum(float(v[1]) for s in d for v in s[\"values\"]))'"; }
l() { echo "\"$bin\" --store $work/\$S query --limit 100 -o raw '$1' | md5sum"; }
# best_of STORE CMD: the best wall time of $runs runs (the output goes to out.STORE).
best_of() {
  local best="" t0 t1 dt
  for _ in $(seq "$runs"); do
    t0=$(date +%s.%N)
    S=$1 bash -c "$2" > "$work/out.$1"
    t1=$(date +%s.%N)
    dt=$(secs "$t0" "$t1")
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $dt < $best else 1)"; then best=$dt; fi
  done
  echo "$best"
}
bench_query() { # NAME CMD
  local name=$1 cmd=$2 s best_one="" best_many="" best_compact="" t0 t1 dt b
  for _ in $(seq "$runs"); do
    for s in one many compact; do
      t0=$(date +%s.%N)
      S=$s bash -c "$cmd" > "$work/out.$s"
      t1=$(date +%s.%N)
      dt=$(secs "$t0" "$t1")
      eval "b=\${best_$s}"
      if [ -z "$b" ] || python3 -c "import sys; sys.exit(0 if $dt < $b else 1)"; then eval "best_$s=$dt"; fi
    done
  done
  for s in many compact; do
    if ! cmp -s "$work/out.one" "$work/out.$s"; then
      echo "$name: store $s answers differently: $(head -c 200 "$work/out.$s") vs $(head -c 200 "$work/out.one")" >&2
      exit 1
    fi
  done
  printf '%-46s %8.3f %8.3f %8.3f %8.2fx\n' "$name" "$best_one" "$best_many" "$best_compact" \
    "$(python3 -c "print($best_compact/$best_one)")"
}
full=$(q '{job=~".+"} |= "Failed password"')
sel=$(q '{job="checkout"} |= "error"')
lim=$(l '{job="checkout"} |= "error"')
met=$(m 'sum(count_over_time({job=~".+"} [5m]))')
js=$(m 'sum by (level) (count_over_time({job=~"api-gateway|checkout"} | json [5m]))')
echo
printf '%-46s %8s %8s %8s %9s\n' "query (best of $runs, s)" one many compact "cmp/one"
bench_query 'full scan |= "Failed password"' "$full"
bench_query 'selective {job="checkout"} |= "error"' "$sel"
bench_query 'limit 100 {job="checkout"} |= "error"' "$lim"
bench_query 'metric sum(count_over_time({job=~".+"}[5m]))' "$met"
bench_query 'metric sum by (level) (… | json [5m])' "$js"

if [ "${GRID:-0}" = 1 ]; then
  echo
  printf '%-16s %7s %7s %7s %6s %11s %9s %7s %7s %7s %7s\n' "level, block" wall "MB/s" "CPU s" "RSS" bytes "vs zstd-3" \
    "full" "select" "limit" "metric"
  for level in ${GRID_LEVELS:-3 5 7}; do
    for block in ${GRID_BLOCKS:-1MiB 2MiB 4MiB}; do
      read -r gs gc gr <<<"$(compact_copy grid --compression-level "$level" --block-size "$block")"
      bytes=$(data_of "$work/grid/fake")
      bf=$(best_of grid "$full") bs=$(best_of grid "$sel") bl=$(best_of grid "$lim") bm=$(best_of grid "$met")
      printf '%-16s %7.2f %7s %7.2f %6s %11d %8.3fx %7.3f %7.3f %7.3f %7.3f\n' "$level, $block" "$gs" \
        "$(mbs "$gs")" "$gc" "$gr" "$bytes" "$(python3 -c "print($bytes/$z3)")" "$bf" "$bs" "$bl" "$bm"
    done
  done
  rm -rf "${work:?}/grid"
  echo "(grid: bytes are segments + indexes; queries on the one-batch store for reference:"
  echo " full $(best_of one "$full"), select $(best_of one "$sel"), limit $(best_of one "$lim"), metric $(best_of one "$met"))"
fi
