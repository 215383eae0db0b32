#!/usr/bin/env python3
"""Sign-in flood: CLIENTS clients post wrong passwords to /api/login for SECONDS seconds while
one more client times GET /healthz every 20 ms. Prints the status counts of the flood and the
/healthz latency (p50, p95, p99, max). Goal: /healthz p95 under 100 ms, the flood meets 429s,
and no answer is a 5xx.

Usage: python3 bench/login_flood.py URL [CLIENTS [SECONDS]]
(bash bench/login_flood.sh starts a server of its own and runs this against it.)
"""

import collections
import http.client
import sys
import threading
import time
import urllib.parse


def main() -> int:
    url = urllib.parse.urlsplit(sys.argv[1])
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 48
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 8.0
    host, port = url.hostname, url.port or 80
    stop = time.monotonic() + seconds
    statuses: collections.Counter = collections.Counter()
    lock = threading.Lock()

    def flood(n: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        body = urllib.parse.urlencode({"username": f"user{n}", "password": "wrong guess", "next": ""})
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}
        while time.monotonic() < stop:
            try:
                conn.request("POST", "/api/login", body, headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except OSError as e:
                status = f"error: {type(e).__name__}"
                conn = http.client.HTTPConnection(host, port, timeout=30)
            with lock:
                statuses[status] += 1

    latencies: list[float] = []
    health: collections.Counter = collections.Counter()

    def probe() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        while time.monotonic() < stop:
            started = time.monotonic()
            try:
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                response.read()
                health[response.status] += 1
            except OSError as e:
                health[f"error: {type(e).__name__}"] += 1
                conn = http.client.HTTPConnection(host, port, timeout=30)
            latencies.append((time.monotonic() - started) * 1000)
            time.sleep(0.02)

    threads = [threading.Thread(target=flood, args=(n,)) for n in range(clients)]
    threads.append(threading.Thread(target=probe))
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    attempts = sum(statuses.values())
    print(f"sign-in flood: {clients} clients, {seconds:.0f} s, {attempts} attempts")
    for status, count in sorted(statuses.items(), key=lambda kv: str(kv[0])):
        print(f"  {status}: {count}")
    print(f"/healthz during the flood: {len(latencies)} requests, statuses {dict(health)}")
    print(
        f"  latency ms: p50 {pick(0.50):.1f}  p95 {pick(0.95):.1f}  p99 {pick(0.99):.1f}  max {latencies[-1]:.1f}"
    )
    server_errors = sum(c for s, c in statuses.items() if not isinstance(s, int) or s >= 500)
    met = pick(0.95) < 100 and statuses[429] > 0 and server_errors == 0 and set(health) == {200}
    print(f"goal: /healthz p95 < 100 ms, 429s met, no 5xx or error: {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
