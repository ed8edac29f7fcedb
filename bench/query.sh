#!/usr/bin/env bash
# Query benchmark, side by side in one run on the 1 GiB corpus:
#   1. full scan   {job=~".+"} |= LIT      vs rg -c LIT (raw files) and zstd -dc | rg -c LIT
#   2. selective   {job="checkout"} |= LIT (about 5% of the data) vs rg over all raw files
#   3. json        {job="api-gateway"} | json | level="error"  vs jq (and angle-grinder if installed)
# Prints seconds, MB/s of raw log bytes, peak RSS and the match counts (which must agree).
# Not a test: nothing is asserted on time. Figures go to bench/README.md.
#
#   bench/query.sh [CORPUS_DIR]        (RUNS=5 by default; the best run is reported)
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-bench/out/corpus-1g}
runs=${RUNS:-5}
lit=${LIT:-Failed password}
if [ ! -f "$corpus/manifest.csv" ]; then
  python3 ../shared/data/gen_corpus.py --out "$corpus" --size 1G --procs 2
fi
command -v rg >/dev/null || { echo "needs ripgrep (apt-get install ripgrep)"; exit 2; }
command -v jq >/dev/null || { echo "needs jq (apt-get install jq)"; exit 2; }
cargo build --release --quiet
bin=$PWD/target/release/lokal
store=${STORE:-bench/out/store-1g}
files=$(find "$corpus" -name '*.log' | sort | tr '\n' ' ')
if [ ! -f "$store/fake/MANIFEST" ]; then
  "$bin" --store "$store" ingest -q --label-from-path '/(?P<job>[^/]+)/(?P<host>[^/]+)\.log$' $files
fi
zcorpus=bench/out/corpus-1g.zst
[ -f "$zcorpus" ] || cat $files | zstd -3 -T2 -q -c > "$zcorpus"
raw=$(cat $files | wc -c)
sel_files=$(find "$corpus/checkout" -name '*.log' | sort | tr '\n' ' ')
sel_raw=$(cat $sel_files | wc -c)
json_files=$(find "$corpus/api-gateway" -name '*.log' | sort | tr '\n' ' ')
json_raw=$(cat $json_files | wc -c)
cat $files > /dev/null  # warm the page cache
export LOKAL_STORE=$store

# best_of CMD...: prints "seconds peak_kb output" of the fastest of $runs runs.
best_of() {
  local best="" out="" rss=0
  for _ in $(seq "$runs"); do
    local t0 t1 o
    t0=$(date +%s.%N)
    o=$( { /usr/bin/time -f '%M' -o /tmp/lokal-bench-rss bash -c "$1"; } 2>/dev/null )
    t1=$(date +%s.%N)
    local dt; dt=$(python3 -c "print($t1-$t0)")
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $dt < $best else 1)"; then best=$dt; out=$o; rss=$(cat /tmp/lokal-bench-rss); fi
  done
  echo "$best $rss $out"
}
row() { # name bytes result
  read -r s kb n <<<"$3"
  printf '%-46s %8.3f %9.0f %9.0f %10s\n' "$1" "$s" "$(python3 -c "print($2/1e6/$s)")" "$((kb/1024))" "$n"
}
printf '%-46s %8s %9s %9s %10s\n' query seconds "MB/s" "peak MB" count
echo "# 1. full scan of $((raw/1000000)) MB for \"$lit\""
r_lokal=$(best_of "$bin query --limit 0 -o raw '{job=~\".+\"} |= \"$lit\"' | wc -l")
r_rg=$(best_of "rg -c --no-filename '$lit' $corpus | awk '{s+=\$1} END {print s}'")
r_zrg=$(best_of "zstd -dc $zcorpus | rg -c '$lit'")
row "lokal {job=~\".+\"} |= lit" "$raw" "$r_lokal"
row "rg -c lit (raw files)" "$raw" "$r_rg"
row "zstd -dc | rg -c lit" "$raw" "$r_zrg"
echo "# 2. selective: {job=\"checkout\"} is $((sel_raw/1000000)) MB ($(python3 -c "print(f'{100*$sel_raw/$raw:.1f}')")%)"
r_sel=$(best_of "$bin query --limit 0 -o raw '{job=\"checkout\"} |= \"error\"' | wc -l")
r_selrg=$(best_of "rg -c --no-filename error $sel_files | awk '{s+=\$1} END {print s}'")
r_allrg=$(best_of "rg -c --no-filename error $corpus | awk '{s+=\$1} END {print s}'")
row "lokal {job=\"checkout\"} |= \"error\"" "$raw" "$r_sel"
row "rg -c error (checkout files only)" "$sel_raw" "$r_selrg"
row "rg -c error (all raw files)" "$raw" "$r_allrg"
echo "# 3. json: {job=\"api-gateway\"} is $((json_raw/1000000)) MB"
r_json=$(best_of "$bin query --limit 0 -o raw '{job=\"api-gateway\"} | json | level=\"error\"' | wc -l")
cat > /tmp/lokal-bench-jq.sh <<JQ
cat $json_files | jq -c 'select(.level=="error")' | wc -l
JQ
r_jq=$(best_of "bash /tmp/lokal-bench-jq.sh")
row "lokal | json | level=\"error\"" "$json_raw" "$r_json"
row "jq select(.level==\"error\")" "$json_raw" "$r_jq"
if command -v agrind >/dev/null; then
  r_ag=$(best_of "cat $json_files | agrind '* | json | where level == \"error\" | count' | tail -1")
  row "angle-grinder json | where level==error" "$json_raw" "$r_ag"
fi
echo "full/selective speed ratio: $(python3 -c "print(f'{float(\"${r_lokal%% *}\")/float(\"${r_sel%% *}\"):.1f}x')")"
