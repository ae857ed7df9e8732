"""Loopback load on one server, from a process of its own: CLIENTS threads, each sending
one POST after another for SECONDS, a new connection per request (as the servers differ
in keep-alive). Prints one JSON line: requests, errors, requests per second, p50, p99.

``python -m bench.load_client URL BODY_JSON CLIENTS SECONDS``
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from urllib.parse import urlparse


def main(argv: list[str]) -> int:
    url, body, clients, seconds = urlparse(argv[0]), argv[1].encode(), int(argv[2]), float(argv[3])
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
                connection.request("POST", url.path, body, {"content-type": "application/json"})
                answer = connection.getresponse()
                answer.read()
                connection.close()
                ok = answer.status == 200
            except OSError:
                ok = False
            elapsed = time.perf_counter() - started
            with lock:
                if ok:
                    latencies.append(elapsed)
                else:
                    errors[0] += 1

    began = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spent = time.monotonic() - began
    latencies.sort()
    n = len(latencies)
    print(
        json.dumps(
            {
                "requests": n,
                "errors": errors[0],
                "per_second": n / spent,
                "p50_ms": latencies[n // 2] * 1000 if n else None,
                "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else None,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
