#!/usr/bin/env bash
# ingest --config cost: the same 1M-line nginx access log (99 MB) ingested
# three ways into fresh stores, side by side, twice: plain (`--label`), a
# promtail config without stages (labels only), and a config with a regex
# (6 groups), labels (method, status) and a timestamp stage.
# Usage: bench/promtail.sh [LOKAL_BIN]   (default target/release/lokal)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/release/lokal}")
out=bench/out/promtail
mkdir -p "$out"
cd "$out"
if [ ! -f access.log ]; then
python3 - <<'PY'
import random, datetime
random.seed(1)
t0 = datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc)
methods = ['GET', 'POST', 'PUT', 'DELETE']
paths = ['/', '/api/v1/users', '/api/v1/orders', '/static/app.js', '/login', '/health']
with open('access.log', 'w') as f:
    for i in range(1000000):
        t = t0 + datetime.timedelta(milliseconds=37 * i)
        f.write(f'10.0.{i % 256}.{(i * 7) % 256} - - [{t.strftime("%d/%b/%Y:%H:%M:%S +0000")}] '
                f'"{random.choice(methods)} {random.choice(paths)} HTTP/1.1" '
                f'{random.choice([200, 200, 200, 301, 404, 500])} {random.randint(100, 50000)} "-" "Mozilla/5.0"\n')
PY
fi
cat > static.yaml <<'YAML'
scrape_configs:
  - job_name: nginx
    static_configs:
      - labels: {job: nginx, __path__: access.log}
YAML
cat > pipeline.yaml <<'YAML'
scrape_configs:
  - job_name: nginx
    static_configs:
      - labels: {job: nginx, __path__: access.log}
    pipeline_stages:
      - regex:
          expression: '^(?P<ip>\S+) \S+ \S+ \[(?P<ts>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) [^"]*" (?P<status>\d{3}) (?P<size>\d+)'
      - labels:
          method:
          status:
      - timestamp:
          source: ts
          format: '02/Jan/2006:15:04:05 -0700'
YAML
for round in 1 2; do
  for mode in plain static pipeline; do
    rm -rf "s-$mode"
    case $mode in
      plain) args=(--label job=nginx access.log) ;;
      static) args=(--config static.yaml) ;;
      pipeline) args=(--config pipeline.yaml) ;;
    esac
    /usr/bin/time -f "$mode (round $round): %e s wall, %U s user, %M KB peak RSS" \
      "$bin" --store "s-$mode" ingest -q "${args[@]}"
  done
done
rm -rf s-plain s-static s-pipeline
