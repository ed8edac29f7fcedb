#!/usr/bin/env bash
# Long-range memory benchmark (issue 13): a 5 GiB corpus over 30 days, its
# ingest, a --limit 0 export of it and a 30-day metric query at a 1 h step,
# each with its peak RSS (/usr/bin/time -v) and wall time, in one run.
#
#   bench/longrange.sh [CORPUS_DIR]        OLD=path/to/lokal also runs an older build
#
# Makes the corpus with ../shared/data/gen_corpus.py --size 5G --hours 720
# when CORPUS_DIR (default bench/out/corpus-5g-720h) has none (about 9 min),
# builds lokal in release mode, ingests into a fresh store under bench/out/
# (removed at the end; KEEP=1 keeps it as bench/out/store-5g-720h-run) and
# queries it. Year-less syslog files (linux, mac, openssh, ...) get the
# current year, so the store spans 2024-01 and this year's January: the
# export reads the whole store (each file's 30 days), the metric query the
# corpus's 30 days from its start (a 720-step grid; the other span would
# exceed Loki's 11,000 points). Not a test: nothing is asserted.
# Figures go to bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-bench/out/corpus-5g-720h}
if [ ! -f "$corpus/manifest.csv" ]; then
  python3 ../shared/data/gen_corpus.py --out "$corpus" --size 5G --hours 720 --procs 2
fi
cargo build --release --quiet --bin lokal
new=target/release/lokal
store=bench/out/store-5g-720h-run
rm -rf "$store"
tmp=$(mktemp -d /tmp/lokal-longrange-XXXXXX)
trap 'rm -rf "$tmp"; [ "${KEEP:-0}" = 1 ] || rm -rf "$store"' EXIT
files=$(find "$corpus" -name '*.log' | sort)
start=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['start'])" "$corpus/corpus.json")
end=$(python3 -c "
import datetime,json,sys
c=json.load(open(sys.argv[1]))
s=datetime.datetime.fromisoformat(c['start'].replace('Z','+00:00'))
print((s+datetime.timedelta(hours=c['hours'])).strftime('%Y-%m-%dT%H:%M:%SZ'))" "$corpus/corpus.json")
cat $files > /dev/null  # page cache warm: every run reads from memory

# measure NAME CMD...: wall seconds, peak RSS MB and stdout lines/bytes.
measure() {
  local name=$1; shift
  /usr/bin/time -v -o "$tmp/time" "$@" > "$tmp/out" 2> "$tmp/err" || true
  local rss s lines bytes
  rss=$(awk '/Maximum resident/{print int($6/1024)}' "$tmp/time")
  s=$(awk '/Elapsed \(wall/{print $8}' "$tmp/time")
  lines=$(wc -l < "$tmp/out"); bytes=$(wc -c < "$tmp/out")
  printf '| %-44s | %8s | %8s MB | %9s lines, %6.1f MB |\n' "$name" "$s" "$rss" "$lines" "$(python3 -c "print($bytes/1e6)")"
}

raw=$(cat $files | wc -c)
echo "corpus: $corpus, $(python3 -c "print(f'{$raw/1e6:.0f}')") MB in $(echo $files | wc -w) files, $start to $end; $(nproc) cores"
echo
echo "| run | wall | peak RSS | output |"
echo "| --- | ---: | ---: | --- |"
measure "ingest (new store)" "$new" --store "$store" ingest -q \
  --label-from-path '/(?P<job>[^/]+)/(?P<host>[^/]+)\.log$' $files
export_q='{job=~".+"} |= "Failed password for root"'
metric_q='sum by (job) (count_over_time({job=~".+"}[1h]))'
for bin in ${OLD:+"$OLD"} "$new"; do
  tag=$([ "$bin" = "$new" ] && echo new || echo old)
  for fmt in raw jsonl default json; do
    measure "$tag: export --limit 0 -o $fmt" "$bin" --store "$store" query -q -z UTC --limit 0 -o "$fmt" "$export_q"
  done
  measure "$tag: export --limit 0 -o raw --forward" "$bin" --store "$store" query -q --limit 0 -o raw --forward "$export_q"
  measure "$tag: metric, 30 days at 1h" "$bin" --store "$store" query -q --from "$start" --to "$end" --step 1h "$metric_q"
done
