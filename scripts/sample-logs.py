#!/usr/bin/env python3
"""Writes lokal's own sample logs: deterministic, realistic enough to query.

    scripts/sample-logs.py OUT_DIR [--lines N] [--seed S]

Three services over two days (2024-03-01..02, UTC):
  OUT_DIR/nginx/web-1.log   nginx combined access log
  OUT_DIR/api/api-1.log     JSON lines (ts, level, service, method, path, status, duration_ms, msg)
  OUT_DIR/worker/worker-1.log  logfmt (ts, level, job, duration, msg), with Java-style
                               stack traces after some errors (multiline)
"""
import argparse
import json
import os
import random
from datetime import datetime, timedelta, timezone

PATHS = ["/", "/login", "/api/v1/orders", "/api/v1/products", "/api/v1/cart", "/static/app.js", "/healthz"]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5.0", "Go-http-client/1.1", "kube-probe/1.29"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--lines", type=int, default=20000, help="lines per service")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    start = datetime(2024, 3, 1, tzinfo=timezone.utc)
    span = timedelta(days=2).total_seconds()
    for d in ("nginx", "api", "worker"):
        os.makedirs(os.path.join(a.out, d), exist_ok=True)

    def times():
        ts = sorted(rnd.uniform(0, span) for _ in range(a.lines))
        return [start + timedelta(seconds=t) for t in ts]

    with open(os.path.join(a.out, "nginx/web-1.log"), "w") as f:
        for t in times():
            status = rnd.choices([200, 301, 404, 500, 503], [85, 5, 7, 2, 1])[0]
            ip = f"10.{rnd.randint(0, 3)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
            f.write(f'{ip} - - [{t.strftime("%d/%b/%Y:%H:%M:%S +0000")}] "GET {rnd.choice(PATHS)} HTTP/1.1" '
                    f'{status} {rnd.randint(200, 90000)} "-" "{rnd.choice(AGENTS)}"\n')

    with open(os.path.join(a.out, "api/api-1.log"), "w") as f:
        for t in times():
            level = rnd.choices(["info", "warn", "error", "debug"], [80, 14, 5, 1])[0]
            status = {"info": 200, "warn": 404, "error": 500, "debug": 200}[level]
            dur = round(rnd.lognormvariate(3 if level != "error" else 6.5, 0.8), 3)
            f.write(json.dumps({
                "ts": t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z",
                "level": level, "service": "api", "method": rnd.choice(["GET", "POST"]),
                "path": rnd.choice(PATHS[2:5]), "status": status, "duration_ms": dur,
                "msg": "request failed" if level == "error" else "request completed",
            }) + "\n")

    with open(os.path.join(a.out, "worker/worker-1.log"), "w") as f:
        for t in times():
            level = rnd.choices(["info", "warn", "error"], [88, 9, 3])[0]
            job = rnd.choice(["resize", "email", "report", "sync"])
            ms = rnd.randint(5, 4000)
            msg = "job failed" if level == "error" else "job done"
            f.write(f'ts={t.isoformat().replace("+00:00", "Z")} level={level} job={job} duration={ms}ms msg="{msg}"\n')
            if level == "error":
                f.write("java.lang.IllegalStateException: queue closed\n")
                f.write("\tat com.example.worker.Queue.take(Queue.java:88)\n")
                f.write("\tat com.example.worker.Main.run(Main.java:42)\n")


if __name__ == "__main__":
    main()
