"""A small HTTP load generator: N threads, each with its own http.client connection, for a fixed time.

Used by ``bench.punchout_setup`` when ``wrk`` is not installed. Python
threads share one interpreter lock, so above a few thousand requests per
second the generator, not the server, is the limit. ``wrk`` has no such
limit and is preferred.
"""

import http.client
import threading
import time
from dataclasses import dataclass


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_load(
    *, host: str, port: int, method: str, path: str, body: bytes, headers: dict, threads: int, seconds: float
) -> LoadResult:
    """Send requests from ``threads`` threads for ``seconds``; a response other than 200 counts as an error."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    deadline = time.perf_counter() + seconds

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                connection.request(method, path, body=body or None, headers=headers)
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
            latencies[index].append((time.perf_counter() - started) * 1000)
            if not ok:
                errors[index] += 1
        connection.close()

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(index,)) for index in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    flat = [latency for per_thread in latencies for latency in per_thread]
    return LoadResult(requests=len(flat), errors=sum(errors), seconds=elapsed, latencies_ms=flat)
