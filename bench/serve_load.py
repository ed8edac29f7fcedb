#!/usr/bin/env python3
"""Load generator for bench/serve.sh: N client threads send a fixed mix of Loki API
requests to one server for a bounded time while a writer thread pushes batches of new
entries to it; prints one JSON line with requests, failures, p50/p99 latency (ms) and
requests per second.

Every answer is checked: the status must be 200 and, for the queries over the fixed,
already stored data, the result must equal the one recorded before the load started
(no partial answer). Pushes must be answered 204. Standard library only.

  serve_load.py --addr http://127.0.0.1:3100 --clients 8 --seconds 20 [--name lokal]
"""
import argparse
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

S0, E0 = "2024-05-01T00:00:00Z", "2024-05-01T02:00:00Z"
MIX = [
    ("query_range log", "/loki/api/v1/query_range",
     {"query": '{job="kafka", host="a"}', "start": S0, "end": E0, "limit": "100"}),
    ("query_range filter", "/loki/api/v1/query_range",
     {"query": '{job=~"zoo.*"} |= "error"', "start": S0, "end": E0, "limit": "100"}),
    ("query_range metric", "/loki/api/v1/query_range",
     {"query": 'sum by (job) (count_over_time({job=~".+"}[5m]))', "start": S0, "end": E0,
      "step": "300"}),
    ("query instant", "/loki/api/v1/query",
     {"query": 'sum by (level) (count_over_time({job="kafka"}[1h]))',
      "time": "2024-05-01T01:00:00Z"}),
    ("labels", "/loki/api/v1/labels", {"start": S0, "end": E0}),
    ("label values", "/loki/api/v1/label/job/values", {"start": S0, "end": E0}),
    ("series", "/loki/api/v1/series", {"match[]": '{job="kafka"}', "start": S0, "end": E0}),
]


def get(addr, path, form):
    url = addr + path + "?" + urllib.parse.urlencode(form)
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            body, status = r.read(), r.status
    except urllib.error.HTTPError as e:
        body, status = e.read(), e.code
    return status, body, time.perf_counter() - t


def result(body):
    """The answer without its stats (which change from one request to the next)."""
    v = json.loads(body)
    d = v.get("data")
    if isinstance(d, dict):
        return json.dumps(d.get("result"), sort_keys=True)
    if isinstance(d, list):
        return json.dumps(sorted(json.dumps(x, sort_keys=True) for x in d))
    return json.dumps(d, sort_keys=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--name", default="")
    a = ap.parse_args()

    want = {}
    for name, path, form in MIX:
        status, body, _ = get(a.addr, path, form)
        if status != 200:
            raise SystemExit(f"{a.name}: {name} answered {status} before the load: {body[:200]!r}")
        want[name] = result(body)

    lock = threading.Lock()
    lat, fails, pushes = [], [], [0]
    deadline = time.monotonic() + a.seconds

    def client(k):
        i = k
        while time.monotonic() < deadline:
            name, path, form = MIX[i % len(MIX)]
            i += 1
            status, body, took = get(a.addr, path, form)
            ok = status == 200 and result(body) == want[name]
            with lock:
                lat.append(took)
                if not ok:
                    fails.append(f"{name}: {status} {body[:120]!r}")

    def writer():
        n = 0
        while time.monotonic() < deadline:
            now = time.time_ns()
            values = [[str(now + i), f"level=info bench=serve n={n} i={i} msg=\"load entry\""]
                      for i in range(500)]
            body = json.dumps({"streams": [{"stream": {"job": "bench_push"}, "values": values}]})
            req = urllib.request.Request(a.addr + "/loki/api/v1/push", data=body.encode(),
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    status = r.status
            except urllib.error.HTTPError as e:
                status = e.code
            with lock:
                if status != 204:
                    fails.append(f"push: {status}")
                else:
                    pushes[0] += 500
            n += 1
            time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(a.clients)]
    threads.append(threading.Thread(target=writer))
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    lat.sort()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else 0
    print(json.dumps({
        "server": a.name, "clients": a.clients, "seconds": round(wall, 1),
        "requests": len(lat), "failed": len(fails), "req_per_s": round(len(lat) / wall, 1),
        "p50_ms": round(pick(0.50), 1), "p99_ms": round(pick(0.99), 1),
        "pushed_entries": pushes[0], "first_failures": fails[:3],
    }))


if __name__ == "__main__":
    main()
