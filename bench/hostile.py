#!/usr/bin/env python3
"""Opens the zoo of hostile artifacts (server/tests/zoo.py) with CLIENTS clients at once,
each going through every reading route in its own order, while /healthz is timed every
50 ms and the server's memory is sampled. Prints each request's slowest time and status,
/healthz's percentiles, the server's idle and peak RSS, and whether it still serves.

    python3 bench/hostile.py URL SERVER_PID [CLIENTS]
"""

import http.client
import multiprocessing
import random
import sys
import threading
import time
import urllib.parse

url, pid = sys.argv[1], int(sys.argv[2])
clients = int(sys.argv[3]) if len(sys.argv) > 3 else 8
host = urllib.parse.urlparse(url)
A = "$CIRCLE_ARTIFACTS/"


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def text(s):
    b = s.encode()
    return varint(len(b)) + b


def postcard_i64(n):
    return varint((n << 1) ^ (n >> 63))


def file_request(build, path):
    return text("gh") + text("acme") + text("zoo") + text(str(build)) + postcard_i64(0) + text(A + path)


def browse_request(folder):
    return text("gh") + text("acme") + text("zoo") + text("1") + postcard_i64(0) + text(folder) + text("") + text("")


REQUESTS = [
    ("file junit/bomb.xml", "POST", "/api/file", file_request(1, "junit/bomb.xml")),
    ("file junit/attributes.xml", "POST", "/api/file", file_request(1, "junit/attributes.xml")),
    ("file junit/deep.xml", "POST", "/api/file", file_request(1, "junit/deep.xml")),
    ("file junit/laughs.xml", "POST", "/api/file", file_request(1, "junit/laughs.xml")),
    ("file data/nested.json", "POST", "/api/file", file_request(1, "data/nested.json")),
    ("file logs/colours.log", "POST", "/api/file", file_request(1, "logs/colours.log")),
    ("file logs/progress.log", "POST", "/api/file", file_request(1, "logs/progress.log")),
    ("file screens/home.png (#2)", "POST", "/api/file", file_request(2, "screens/home.png")),
    ("compare screens/home.png", "GET", "/gh/acme/zoo/2/compare/0/" + urllib.parse.quote(A) + "screens/home.png", None),
    ("browse archives/many.zip/", "POST", "/api/browse", browse_request(A + "archives/many.zip/")),
    ("browse archives/lying.zip/", "POST", "/api/browse", browse_request(A + "archives/lying.zip/")),
    ("browse archives/longname.tar/", "POST", "/api/browse", browse_request(A + "archives/longname.tar/")),
    ("browse archives/pax.tar/", "POST", "/api/browse", browse_request(A + "archives/pax.tar/")),
    ("browse archives/bomb.tar.gz/", "POST", "/api/browse", browse_request(A + "archives/bomb.tar.gz/")),
    ("file archives/bomb.zip/zeros.txt", "POST", "/api/file", file_request(1, "archives/bomb.zip/zeros.txt")),
    ("browse a million slashes", "POST", "/api/browse", browse_request("/" * 1_000_000)),
    ("zip of zeros/ (gzip asked)", "GET", "/gh/acme/zoo/1/download/0?folder=" + urllib.parse.quote(A + "zeros/", safe=""), None),
]


def send(method, path, body, headers=None):
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=120)
    hdrs = {"Accept-Encoding": "gzip"}
    if body is not None:
        hdrs["Content-Type"] = "application/x-postcard"
    hdrs.update(headers or {})
    started = time.monotonic()
    try:
        conn.request(method, path, body=body, headers=hdrs)
        response = conn.getresponse()
        length = len(response.read())
        return response.status, time.monotonic() - started, length, response.getheader("Content-Encoding")
    finally:
        conn.close()


def rss(field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


results = {name: [] for name, *_ in REQUESTS}
lock = threading.Lock()


def client(seed):
    order = list(REQUESTS)
    random.Random(seed).shuffle(order)
    for name, method, path, body in order:
        try:
            status, took, length, encoding = send(method, path, body)
        except Exception as e:  # a dropped connection is a crash's sign: counted, shown
            status, took, length, encoding = f"error: {e}", 0.0, 0, None
        with lock:
            results[name].append((status, took, length, encoding))


def healthz(stop, out):
    """In a process of its own: the clients' threads share one interpreter lock, which would
    be timed too."""
    seen = []
    while not stop.is_set():
        try:
            status, took, _, _ = send("GET", "/healthz", None)
        except Exception:
            status, took = "error", 0.0
        seen.append((time.time(), status, took))
        time.sleep(0.05)
    out.put(seen)


idle = rss("VmRSS")
with open(f"/proc/{pid}/clear_refs", "w") as f:
    f.write("5")
stop_watching = multiprocessing.Event()
watched = multiprocessing.Queue()
watcher = multiprocessing.Process(target=healthz, args=(stop_watching, watched))
watcher.start()
time.sleep(0.5)
started, started_at = time.monotonic(), time.time()
threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed, ended_at = time.monotonic() - started, time.time()
time.sleep(0.5)
stop_watching.set()
# The checks that started while the clients were at work.
health = [(status, took) for at, status, took in watched.get() if started_at <= at <= ended_at]
watcher.join()
peak = rss("VmHWM")

print(f"{clients} clients, each every request once, in {elapsed:.1f} s\n")
print(f"{'request':<36} {'slowest':>9} {'median':>9}  statuses")
slowest_all = 0.0
for name, *_ in REQUESTS:
    answers = results[name]
    times = sorted(t for _, t, _, _ in answers)
    statuses = {}
    for status, _, _, _ in answers:
        statuses[status] = statuses.get(status, 0) + 1
    slowest_all = max(slowest_all, times[-1])
    shown = ", ".join(f"{s} x{n}" for s, n in sorted(statuses.items(), key=str))
    print(f"{name:<36} {times[-1] * 1000:>7.0f}ms {times[len(times) // 2] * 1000:>7.0f}ms  {shown}")
encoded = [e for _, _, _, e in results["zip of zeros/ (gzip asked)"] if e]
times = sorted(t for s, t in health if s == 200)
failed = [s for s, _ in health if s != 200]
pct = lambda p: times[min(len(times) - 1, int(p * len(times)))] * 1000 if times else float("nan")
print(f"\n/healthz: {len(health)} checks, p50 {pct(0.5):.1f} ms, p95 {pct(0.95):.1f} ms, max {pct(1.0):.1f} ms, {len(failed)} failed")
print(f"memory:   idle {idle >> 20} MiB, peak {peak >> 20} MiB, peak over idle {(peak - idle) >> 20} MiB")
alive = True
try:
    alive = send("GET", "/healthz", None)[0] == 200
except Exception:
    alive = False
crashes = sum(1 for r in results.values() for s, *_ in r if isinstance(s, str) or s >= 500 and s != 503)
print(f"server:   {'still serving' if alive else 'DOWN'}; {crashes} answers were 5xx other than 503 or dropped")
print(f"zip:      gzipped again {len(encoded)} times")
goals = [
    ("every answer within 2 s", slowest_all <= 2.0),
    ("peak RSS at most 256 MiB over idle", peak - idle <= 256 << 20),
    ("/healthz p95 under 50 ms", pct(0.95) < 50),
    ("0 crashes", alive and crashes == 0 and not failed),
]
print("\ngoals:   " + "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in goals))
