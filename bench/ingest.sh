#!/usr/bin/env bash
# Ingest benchmark: lokal ingest vs zstd -3 on the same bytes, in one run.
#
#   bench/ingest.sh [CORPUS_DIR]
#
# Makes a 1 GiB corpus with ../shared/data/gen_corpus.py when CORPUS_DIR has
# none, builds lokal in release mode, then prints lokal's ingest MB/s, peak
# RSS and store size beside zstd -3 (single thread, and -T2 on both cores).
# Not a test: no timing is asserted anywhere. Figures go to bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-bench/out/corpus-1g}
size=${SIZE:-1G}
if [ ! -f "$corpus/manifest.csv" ]; then
  python3 ../shared/data/gen_corpus.py --out "$corpus" --size "$size" --procs 2
fi
cargo build --release --quiet
bin=target/release/lokal
store=$(mktemp -d /tmp/lokal-bench-XXXXXX)
trap 'rm -rf "$store" "$store.rss"' EXIT
files=$(find "$corpus" -name '*.log' | sort)
raw=$(cat $files | wc -c)
mb() { python3 -c "print(f'{$1/1e6:.1f}')"; }
rate() { python3 -c "print(f'{$1/1e6/$2:.0f}')"; }
now() { date +%s.%N; }
# Warm the page cache so every tool reads from memory.
cat $files > /dev/null

t0=$(now)
/usr/bin/time -f '%M' -o "$store.rss" \
  "$bin" --store "$store" ingest -q --label-from-path '/(?P<job>[^/]+)/(?P<host>[^/]+)\.log$' $files
t1=$(now)
rss_mb=$(( $(cat "$store.rss") / 1024 ))
lokal_s=$(python3 -c "print($t1-$t0)")
stats=$("$bin" --store "$store" stats -o json)
stored=$(echo "$stats" | python3 -c "import json,sys; print(sum(r['bytes_stored'] for r in json.load(sys.stdin)))")
overhead=$(echo "$stats" | python3 -c "import json,sys; print(sum(r['bytes_overhead'] for r in json.load(sys.stdin)))")
entries=$(echo "$stats" | python3 -c "import json,sys; print(sum(r['entries'] for r in json.load(sys.stdin)))")

t0=$(now); zsize=$(cat $files | zstd -3 -T1 -q -c | wc -c); t1=$(now)
z1_s=$(python3 -c "print($t1-$t0)")
t0=$(now); cat $files | zstd -3 -T2 -q -c > /dev/null; t1=$(now)
z2_s=$(python3 -c "print($t1-$t0)")

echo "corpus: $corpus, $(mb $raw) MB raw, $entries entries, $(nproc) cores"
printf '%-26s %10s %10s %12s %10s %12s\n' tool seconds MB/s "size MB" "vs zstd-3" "peak RSS MB"
printf '%-26s %10.2f %10s %12s %10s %12s\n' "lokal ingest" "$lokal_s" "$(rate $raw $lokal_s)" "$(mb $stored)" "$(python3 -c "print(f'{$stored/$zsize:.3f}x')")" "$rss_mb"
printf '%-26s %10.2f %10s %12s %10s %12s\n' "zstd -3 -T1" "$z1_s" "$(rate $raw $z1_s)" "$(mb $zsize)" "1.000x" "-"
printf '%-26s %10.2f %10s %12s %10s %12s\n' "zstd -3 -T2" "$z2_s" "$(rate $raw $z2_s)" "-" "-" "-"
echo "indexes, footers and headers: $(mb $overhead) MB = $(python3 -c "print(f'{100*$overhead/$raw:.3f}')")% of raw"
echo "lokal ingest / zstd -3 -T2 speed: $(python3 -c "print(f'{$z2_s/$lokal_s:.2f}x')")"

# Memory: peak RSS follows --batch-size (128 MiB), not the input. 100 MB of
# short lines (26 bytes each: the per-line cost dominates), through ingest
# and query --stdin; then a 1 GiB gzip bomb (1 GB of NUL bytes), refused as
# binary, and with --binary cut while read and rejected.
short=bench/out/short-100mb.log
if [ ! -f "$short" ]; then
  python3 - "$short" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    i = 0
    while f.tell() < 100_000_000:
        f.write(f"2024-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z x{i % 9973:04d}\n")
        i += 1
PY
fi
bomb=bench/out/bomb-1g.gz
[ -f "$bomb" ] || head -c 1G /dev/zero | gzip -1 > "$bomb"
peak() {  # peak RSS (MB) and exit code of a command
  local code=0
  /usr/bin/time -f '%M' -o "$store.rss" "$@" > /dev/null 2>&1 || code=$?
  echo "$(( $(tail -1 "$store.rss") / 1024 )) MB, exit $code"
}
rm -rf "$store"
echo
echo "peak RSS, --batch-size 128MiB (default):"
echo "  ingest of 100 MB of 26-byte lines:        $(peak "$bin" --store "$store" ingest -q "$short")"
echo "  query --stdin over the same:              $(peak sh -c "\"$bin\" query --stdin -o raw --limit 1 '|= \"x0001\"' < $short")"
echo "  ingest of a 1 GiB gzip bomb:              $(peak "$bin" --store "$store" ingest -q "$bomb")"
echo "  the same with --binary --max-line-size 1MB: $(peak "$bin" --store "$store" ingest -q --binary --max-line-size 1MB "$bomb")"
