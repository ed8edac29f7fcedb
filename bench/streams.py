#!/usr/bin/env python3
"""Deterministic high-cardinality corpus in logcli jsonl, as a Kubernetes user labels logs.

    bench/streams.py STREAMS [--lines 5] [--day 2024-01-01] > streams.jsonl

Each stream has the labels job (job-0..job-9), ns (ns-00..ns-49) and pod (pod-N, one
per stream), and --lines short logfmt lines spread over one UTC day; entries come in time
order across all streams, as a collector would ship them. Stream N's lines hold the
literal `stream=N`, so a query can count a stream's lines independently of its labels.
Standard library only; the output depends only on the arguments.
"""
import argparse
import datetime
import json
import sys

LEVELS = ["info", "info", "info", "warn", "error", "debug"]
PATHS = ["/api/v1/orders", "/api/v1/users", "/healthz", "/metrics", "/api/v1/cart"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("streams", type=int)
    ap.add_argument("--lines", type=int, default=5, help="lines per stream (default 5)")
    ap.add_argument("--day", default="2024-01-01", help="UTC day of the entries")
    a = ap.parse_args()
    day = datetime.datetime.fromisoformat(a.day).replace(tzinfo=datetime.timezone.utc)
    base = int(day.timestamp()) * 10**9
    total = a.streams * a.lines
    # Entry k (0 <= k < total) is line k // streams of stream k % streams, at an
    # even spacing over the day (integer ns, strictly increasing).
    span = 86_400 * 10**9 - 1
    out = sys.stdout
    write = out.write
    for k in range(total):
        s, i = k % a.streams, k // a.streams
        ts = base + k * span // total
        t = datetime.datetime.fromtimestamp(ts // 10**9, datetime.timezone.utc)
        stamp = t.strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % (ts % 10**9)
        h = (s * 2654435761 + i * 40503) & 0xFFFFFFFF
        line = 'level=%s msg="handled request" path=%s status=%d duration=%dms stream=%d' % (
            LEVELS[h % len(LEVELS)], PATHS[(h >> 3) % len(PATHS)], 200 + (h >> 7) % 4 * 100,
            (h >> 11) % 900 + 1, s)
        labels = '{"job":"job-%d","ns":"ns-%02d","pod":"pod-%d"}' % (s % 10, s % 50, s)
        write('{"labels":%s,"line":%s,"timestamp":"%s"}\n' % (labels, json.dumps(line), stamp))


if __name__ == "__main__":
    main()
