#!/usr/bin/env bash
# Compaction benchmark (issue 12), side by side in one run, on the 1 GiB corpus:
#
#   bench/compact.sh [CORPUS_DIR]          RUNS=3 query runs each (best reported)
#   GRID=1 bench/compact.sh                also compaction at zstd levels x block sizes
#
# Stores built:
#   one     the corpus in one `lokal ingest` (its 128 MiB batches): the query reference
#   many    the corpus in 100 ingests, each the next hundredth of every file (as an ingest
#           from cron every few minutes leaves it): many small segments with small blocks
#   compact a copy of `many` after `lokal compact`
# Prints compaction MB/s (raw line bytes per second of wall time, 2 cores), the stores'
# sizes beside `zstd -3` and `zstd -9` of the same raw bytes (one stream of the files
# concatenated), and full-scan, selective and metric query times on each store, the
# stores alternated in every run so they see the same machine noise. Answers must be
# identical before and after compaction (the script fails otherwise). Not a test: nothing is asserted
# about time. Figures go to bench/README.md.
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
trap 'rm -rf "$work"' EXIT
files=$(cd "$corpus" && find . -name '*.log' | sort | sed 's|^\./||')
labels='/(?P<job>[^/]+)/(?P<host>[^/]+)\.log$'
raw=$(cd "$corpus" && cat $files | wc -c)

# The raw bytes as one stream, for zstd's sizes.
(cd "$corpus" && cat $files) > "$work/raw"
z3=$(zstd -3 -T1 -q -c "$work/raw" | wc -c)
z9=$(zstd -9 -T1 -q -c "$work/raw" | wc -c)
rm -f "$work/raw"

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

size_of() { du -sb --exclude=lokal.lock "$1" | cut -f1; }
secs() { python3 -c "print($2-$1)"; }

echo "corpus: $corpus, $((raw/1000000)) MB raw, $(nproc) cores, $runs query runs each"
t0=$(date +%s.%N)
(cd "$corpus" && "$bin" --store "$work/one" ingest -q --no-filename-label --label-from-path "$labels" $files)
t1=$(date +%s.%N)
echo "ingest in one run:        $(secs "$t0" "$t1") s"
t0=$(date +%s.%N)
for k in $(seq -f '%03g' 0 99); do
  (cd "$work/slices/$k" && "$bin" --store "$work/many" ingest -q --no-filename-label --label-from-path "$labels" $files)
done
t1=$(date +%s.%N)
echo "ingest in 100 runs:       $(secs "$t0" "$t1") s"
rm -rf "$work/slices"

# compact_copy NAME [ARGS...]: copies `many` to NAME and compacts it; prints seconds and peak RSS.
compact_copy() {
  local name=$1
  shift
  rm -rf "$work/$name"
  cp -a "$work/many" "$work/$name"
  sync
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$work/rss" "$bin" --store "$work/$name" compact -q "$@"
  t1=$(date +%s.%N)
  echo "$(secs "$t0" "$t1") $(($(cat "$work/rss") / 1024))"
}

read -r cs crss <<<"$(compact_copy compact)"
echo "compact (defaults):       $cs s = $(python3 -c "print(f'{$raw/1e6/$cs:.0f}')") MB/s raw, peak RSS $crss MB"
echo
printf '%-34s %12s %10s\n' store bytes "vs zstd -3"
row() { printf '%-34s %12d %9.3fx\n' "$1" "$2" "$(python3 -c "print($2/$z3)")"; }
row "zstd -3 of the raw bytes" "$z3"
row "zstd -9 of the raw bytes" "$z9"
row "one ingest" "$(size_of "$work/one/fake")"
row "100 ingests" "$(size_of "$work/many/fake")"
row "100 ingests, compacted" "$(size_of "$work/compact/fake")"
for s in one many compact; do
  "$bin" --store "$work/$s" stats -o json | python3 -c "
import json, sys
for d in json.load(sys.stdin):
    print(f\"  $s {d['day']}: {d['segments']} segments, {d['chunks']} chunks, {d['blocks']} blocks, avg block {d['block_raw_avg']/1e6:.2f} MB raw -> {d['block_stored_avg']/1e3:.0f} kB\")"
done

# Queries, each store in turn within every run.
q() { echo "\"$bin\" --store $work/\$S query --limit 0 -o raw '$1' | wc -l"; }
m() { echo "\"$bin\" --store $work/\$S query --from 2024-01-01T00:00:00Z --to 2024-01-02T00:00:00Z --step 1m -o json '$1' | python3 -c 'import json,sys; d=json.load(sys.stdin)[\"data\"][\"result\"]; print(len(d), sum(len(s[\"values\"]) for s in d), sum(float(v[1]) for s in d for v in s[\"values\"]))'"; }
l() { echo "\"$bin\" --store $work/\$S query --limit 100 -o raw '$1' | md5sum"; }
bench_query() { # NAME CMD
  local name=$1 cmd=$2 s best_one="" best_many="" best_compact="" t0 t1 dt
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
  # `one` differs a little: a line without a timestamp at the start of a
  # slice takes a time from its slice, not from the line before it.
  if ! cmp -s "$work/out.many" "$work/out.compact"; then
    echo "$name: compaction changed the answer: $(head -c 200 "$work/out.compact") vs $(head -c 200 "$work/out.many")" >&2
    exit 1
  fi
  printf '%-46s %8.3f %8.3f %8.3f %8.2fx\n' "$name" "$best_one" "$best_many" "$best_compact" \
    "$(python3 -c "print($best_compact/$best_one)")"
}
echo
printf '%-46s %8s %8s %8s %9s\n' "query (best of $runs, s)" one many compact "cmp/one"
bench_query 'full scan |= "Failed password"' "$(q '{job=~".+"} |= "Failed password"')"
bench_query 'selective {job="checkout"} |= "error"' "$(q '{job="checkout"} |= "error"')"
bench_query 'limit 100 {job="checkout"} |= "error"' "$(l '{job="checkout"} |= "error"')"
bench_query 'metric sum(count_over_time({job=~".+"}[5m]))' "$(m 'sum(count_over_time({job=~".+"} [5m]))')"
bench_query 'metric sum by (level) (… | json [5m])' "$(m 'sum by (level) (count_over_time({job=~"api-gateway|checkout"} | json [5m]))')"

if [ "${GRID:-0}" = 1 ]; then
  echo
  printf '%-22s %8s %8s %12s %10s %9s %9s\n' "level, block size" seconds "MB/s" bytes "vs zstd -3" "full s" "metric s"
  full=$(q '{job=~".+"} |= "Failed password"')
  met=$(m 'sum(count_over_time({job=~".+"} [5m]))')
  for level in 3 5 7 9; do
    for block in 1MiB 2MiB 4MiB 8MiB; do
      read -r gs _ <<<"$(compact_copy grid --compression-level "$level" --block-size "$block")"
      bytes=$(size_of "$work/grid/fake")
      bf="" bm=""
      for _ in $(seq "$runs"); do
        t0=$(date +%s.%N); S=grid bash -c "$full" > /dev/null; t1=$(date +%s.%N); dt=$(secs "$t0" "$t1")
        if [ -z "$bf" ] || python3 -c "import sys; sys.exit(0 if $dt < $bf else 1)"; then bf=$dt; fi
        t0=$(date +%s.%N); S=grid bash -c "$met" > /dev/null; t1=$(date +%s.%N); dt=$(secs "$t0" "$t1")
        if [ -z "$bm" ] || python3 -c "import sys; sys.exit(0 if $dt < $bm else 1)"; then bm=$dt; fi
      done
      printf '%-22s %8.2f %8.0f %12d %9.3fx %9.3f %9.3f\n' "$level, $block" "$gs" \
        "$(python3 -c "print($raw/1e6/$gs)")" "$bytes" "$(python3 -c "print($bytes/$z3)")" "$bf" "$bm"
    done
  done
fi
