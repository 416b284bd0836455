"""Round-trip throughput of the Python client: ``python3 -m lsmkv.bench``.

K threads share one Client and send Put (or Get) calls back to back for a
fixed time, like tools/loadgen/lsmkv-loadgen does with the C transport, and
print the same kind of line, so the two can be compared on one server::

    python3 -m lsmkv.bench --url tcp://127.0.0.1:7420 --threads 16 --op put
    build/tools/loadgen/lsmkv-loadgen --url tcp://127.0.0.1:7420 --threads 16 --op put
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from typing import List

from .client import Client
from .errors import Error


def main(argv: "List[str] | None" = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m lsmkv.bench", description=__doc__.split("\n")[0])
    p.add_argument("--url", default="tcp://127.0.0.1:7420")
    p.add_argument("--threads", type=int, default=1, help="threads sharing one client (default 1)")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--op", choices=("put", "get"), default="put")
    p.add_argument("--value-size", type=int, default=100)
    p.add_argument("--keys", type=int, default=10000)
    a = p.parse_args(argv)

    value = b"v" * a.value_size
    latencies: List[List[float]] = [[] for _ in range(a.threads)]
    errors = [0] * a.threads
    stop = threading.Event()

    with Client(a.url, timeout=10.0) as kv:
        if a.op == "get":  # something to find
            for k in range(min(a.keys, 1000)):
                kv.put(b"key%010d" % k, value)

        def worker(n: int) -> None:
            rng = random.Random(n)
            lat = latencies[n]
            call = kv.put if a.op == "put" else None
            while not stop.is_set():
                key = b"key%010d" % rng.randrange(a.keys)
                t0 = time.perf_counter()
                try:
                    if call is not None:
                        call(key, value)
                    else:
                        kv.get(key)
                except Error:
                    errors[n] += 1
                    continue
                lat.append(time.perf_counter() - t0)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(a.threads)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(a.seconds)
        stop.set()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start

    every = sorted(x for lat in latencies for x in lat)
    n = len(every)

    def pct(q: float) -> float:
        return every[int((n - 1) * q)] * 1e6 if n else 0.0

    print(
        f"python {a.op} threads={a.threads} value={a.value_size}: {n / elapsed:.0f} req/s, "
        f"p50 {pct(0.5):.0f} us, p99 {pct(0.99):.0f} us, p99.9 {pct(0.999):.0f} us, "
        f"errors {sum(errors)}"
    )
    return 1 if n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
