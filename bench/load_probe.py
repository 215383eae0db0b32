#!/usr/bin/env python3
"""While a load runs: times GET /healthz every 20 ms and samples the server's RSS every
100 ms, for SECONDS seconds. Prints one line: /healthz p50, p95, p99 and failures, and the
server's peak RSS.

Usage: python3 bench/load_probe.py URL SERVER_PID SECONDS
"""

import http.client
import sys
import time
import urllib.parse


def rss_kib(pid: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> int:
    url = urllib.parse.urlsplit(sys.argv[1])
    pid, seconds = sys.argv[2], float(sys.argv[3])
    stop = time.monotonic() + seconds
    latencies: list[float] = []
    failures = 0
    peak = 0
    next_sample = 0.0
    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=30)
    while time.monotonic() < stop:
        now = time.monotonic()
        if now >= next_sample:
            peak = max(peak, rss_kib(pid))
            next_sample = now + 0.1
        started = time.monotonic()
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                failures += 1
        except OSError:
            failures += 1
            conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=30)
        latencies.append((time.monotonic() - started) * 1000)
        time.sleep(0.02)
    latencies.sort()

    def pct(p: float) -> str:
        return f"{latencies[min(len(latencies) - 1, int(len(latencies) * p))]:.1f}" if latencies else "?"

    print(f"/healthz p50 {pct(0.5)} p95 {pct(0.95)} p99 {pct(0.99)} ms ({failures} failed); peak RSS {peak // 1024} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
