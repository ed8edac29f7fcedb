#!/usr/bin/env bash
# Ingest benchmark: lokal ingest vs zstd -3 on the same bytes, in one run.
#
#   bench/ingest.sh [CORPUS_DIR]
#
# Makes a 1 GiB corpus with ../shared/data/gen_corpus.py when CORPUS_DIR has
# none, builds lokal in release mode, then prints lokal's ingest MB/s and store
# size beside zstd -3 (single thread, and -T2 on both cores). Not a test: no
# timing is asserted anywhere. Figures go to bench/README.md.
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
trap 'rm -rf "$store"' EXIT
files=$(find "$corpus" -name '*.log' | sort)
raw=$(cat $files | wc -c)
mb() { python3 -c "print(f'{$1/1e6:.1f}')"; }
rate() { python3 -c "print(f'{$1/1e6/$2:.0f}')"; }
now() { date +%s.%N; }
# Warm the page cache so every tool reads from memory.
cat $files > /dev/null

t0=$(now)
"$bin" --store "$store" ingest -q --label-from-path '/(?P<job>[^/]+)/(?P<host>[^/]+)\.log$' $files
t1=$(now)
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
printf '%-26s %10s %10s %12s %10s\n' tool seconds MB/s "size MB" "vs zstd-3"
printf '%-26s %10.2f %10s %12s %10s\n' "lokal ingest" "$lokal_s" "$(rate $raw $lokal_s)" "$(mb $stored)" "$(python3 -c "print(f'{$stored/$zsize:.3f}x')")"
printf '%-26s %10.2f %10s %12s %10s\n' "zstd -3 -T1" "$z1_s" "$(rate $raw $z1_s)" "$(mb $zsize)" "1.000x"
printf '%-26s %10.2f %10s %12s %10s\n' "zstd -3 -T2" "$z2_s" "$(rate $raw $z2_s)" "-" "-"
echo "indexes, footers and headers: $(mb $overhead) MB = $(python3 -c "print(f'{100*$overhead/$raw:.3f}')")% of raw"
echo "lokal ingest / zstd -3 -T2 speed: $(python3 -c "print(f'{$z2_s/$lokal_s:.2f}x')")"
