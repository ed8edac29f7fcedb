#!/usr/bin/env bash
# A/B benchmark: two lokal binaries side by side, on the same corpus, in one run.
#
#   bench/ab.sh OLD_BIN NEW_BIN [CORPUS_DIR]
#
# For a change that must not slow lokal down (a refactor, a new feature on the hot path):
# ingest, the full scan, the selective scan, `| json`, and the three metric queries of
# bench/metric.sh, each run RUNS times (default 3) alternating OLD and NEW so that both see
# the same machine noise; prints the best time of each, the NEW/OLD ratio, peak RSS, and the
# best CPU time (user + system) of each with its ratio.
# Answers must be identical (the script fails otherwise). Not a test: nothing is asserted
# about time. Makes the 1 GiB corpus with ../shared/data/gen_corpus.py if needed.
#
# The metric queries run from 2024-01-01T00:00:00Z to OLD_TO / NEW_TO (default
# 2024-01-02T00:00:00Z for both). When a change moves the step grid, give each binary the
# --to that makes both evaluate the same steps, so that the answers can be compared: for a
# build before Loki's grid (which stopped one step before --to) against one after it,
# NEW_TO=2024-01-01T23:59:00Z (both evaluate 00:00 ... 23:59, 1,440 steps).
set -euo pipefail
cd "$(dirname "$0")/.."
old=$(realpath "${1:?usage: bench/ab.sh OLD_BIN NEW_BIN [CORPUS_DIR]}")
new=$(realpath "${2:?usage: bench/ab.sh OLD_BIN NEW_BIN [CORPUS_DIR]}")
corpus=${3:-bench/out/corpus-1g}
runs=${RUNS:-3}
if [ ! -f "$corpus/manifest.csv" ]; then
  python3 ../shared/data/gen_corpus.py --out "$corpus" --size 1G --procs 2
fi
work=$(mktemp -d /tmp/lokal-ab-XXXXXX)
trap 'rm -rf "$work"' EXIT
files=$(find "$corpus" -name '*.log' | sort | tr '\n' ' ')
raw=$(cat $files | wc -c)
cat $files > /dev/null  # warm the page cache
labels='/(?P<job>[^/]+)/(?P<host>[^/]+)\.log$'

old_to=${OLD_TO:-2024-01-02T00:00:00Z}
new_to=${NEW_TO:-2024-01-02T00:00:00Z}

# measure BIN CMD LABEL: runs CMD (with $BIN, and $TO of LABEL old/new, set), prints
# "seconds peak_kb cpu_seconds" (cpu: user + system of the whole command, which a busy
# machine disturbs less than the wall time), output in $work/out.LABEL.
measure() {
  local t0 t1 to=$old_to
  [ "$3" = new ] && to=$new_to
  t0=$(date +%s.%N)
  BIN=$1 TO=$to /usr/bin/time -f '%M %U %S' -o "$work/rss" bash -c "$2" > "$work/out.$3"
  t1=$(date +%s.%N)
  read -r kb user sys < "$work/rss"
  echo "$(python3 -c "print($t1-$t0)") $kb $(python3 -c "print($user+$sys)")"
}

# ab NAME BYTES CMD: alternates OLD and NEW, prints best seconds, MB/s, ratio, RSS, and the
# best CPU seconds with their ratio.
ab() {
  local name=$1 bytes=$2 cmd=$3 best_o="" best_n="" rss_o=0 rss_n=0 cpu_o="" cpu_n="" s kb c
  for _ in $(seq "$runs"); do
    read -r s kb c <<<"$(measure "$old" "$cmd" old)"
    if [ -z "$best_o" ] || python3 -c "import sys; sys.exit(0 if $s < $best_o else 1)"; then best_o=$s; rss_o=$kb; fi
    if [ -z "$cpu_o" ] || python3 -c "import sys; sys.exit(0 if $c < $cpu_o else 1)"; then cpu_o=$c; fi
    read -r s kb c <<<"$(measure "$new" "$cmd" new)"
    if [ -z "$best_n" ] || python3 -c "import sys; sys.exit(0 if $s < $best_n else 1)"; then best_n=$s; rss_n=$kb; fi
    if [ -z "$cpu_n" ] || python3 -c "import sys; sys.exit(0 if $c < $cpu_n else 1)"; then cpu_n=$c; fi
  done
  if ! cmp -s "$work/out.old" "$work/out.new"; then
    echo "$name: the two binaries answer differently:" >&2
    diff <(head -c 2000 "$work/out.old") <(head -c 2000 "$work/out.new") >&2 || true
    exit 1
  fi
  printf '%-40s %8.3f %8.3f %7.3fx %8.0f %8.0f %7d %7d %7.2f %7.2f %7.3fx\n' "$name" "$best_o" "$best_n" \
    "$(python3 -c "print($best_n/$best_o)")" "$(python3 -c "print($bytes/1e6/$best_o)")" \
    "$(python3 -c "print($bytes/1e6/$best_n)")" $((rss_o/1024)) $((rss_n/1024)) \
    "$cpu_o" "$cpu_n" "$(python3 -c "print($cpu_n/max($cpu_o, 1e-9))")"
}

echo "corpus: $corpus, $((raw/1000000)) MB, $(nproc) cores, $runs runs each, alternating"
echo "old: $old (metric queries to $old_to)"
echo "new: $new (metric queries to $new_to)"
printf '%-40s %8s %8s %8s %8s %8s %7s %7s %7s %7s %8s\n' "" "old s" "new s" "new/old" "old MB/s" "new MB/s" \
  "old MB" "new MB" "old cpu" "new cpu" "new/old"
ab "ingest (fresh store, fsync, index)" "$raw" \
  "rm -rf $work/s-\$\$; \"\$BIN\" --store $work/s-\$\$ ingest -q --label-from-path '$labels' $files; \"\$BIN\" --store $work/s-\$\$ stats -o json | python3 -c 'import json,sys; print(sum(r[\"entries\"] for r in json.load(sys.stdin)))'; rm -rf $work/s-\$\$"
# Queries run against one store written by OLD: both binaries read the same files.
"$old" --store "$work/store" ingest -q --label-from-path "$labels" $files
sel_raw=$(cat $(find "$corpus/checkout" -name '*.log') | wc -c)
json_raw=$(cat $(find "$corpus/api-gateway" -name '*.log') | wc -c)
q() { echo "\"\$BIN\" --store $work/store query --limit 0 -o raw '$1' | wc -l"; }
m() { echo "\"\$BIN\" --store $work/store query --from 2024-01-01T00:00:00Z --to \$TO --step 1m -o json -z UTC '$1' | python3 -c 'import json,sys; d=json.load(sys.stdin)[\"data\"][\"result\"]; print(len(d), sum(len(s[\"values\"]) for s in d), sum(float(v[1]) for s in d for v in s[\"values\"]))'"; }
ab 'full scan |= "Failed password"' "$raw" "$(q '{job=~".+"} |= "Failed password"')"
ab 'selective {job="checkout"} |= "error"' "$raw" "$(q '{job="checkout"} |= "error"')"
ab '| json | level="error"' "$json_raw" "$(q '{job="api-gateway"} | json | level="error"')"
bytes_of() { cat $(find "$corpus" -name '*.log' | grep -E "/($1)/") | wc -c; }
ab 'sum by (level) (count_over_time(json))' "$(bytes_of 'api-gateway|checkout')" \
  "$(m 'sum by (level) (count_over_time({job=~"api-gateway|checkout"} | json [5m]))')"
ab 'quantile_over_time(logfmt unwrap)' "$(bytes_of 'payments|inventory')" \
  "$(m 'quantile_over_time(0.99, {job=~"payments|inventory"} | logfmt | unwrap duration_ms [5m]) by (service)')"
ab 'sum(count_over_time({job=~".+"}))' "$raw" "$(m 'sum(count_over_time({job=~".+"} [5m]))')"
