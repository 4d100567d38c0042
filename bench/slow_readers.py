#!/usr/bin/env python3
"""Memory of clients that request `GET /_emulator/state` and never read (BENCHMARKS.md
"Durability"): the release binary with DEVICES devices in one customer, VmRSS before and after
ten such clients, first with no write in between, then with a one-device upload into the same
customer before each client (so each export pins a different version of it).

Standard library only: `bench/slow_readers.py [DEVICES]` (default a million).
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import durability  # noqa: E402


def main():
    devices = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    tmp = tempfile.mkdtemp(prefix="pce-slow-readers-")
    state = os.path.join(tmp, "state.json")
    # PCE_NO_STATE=1: without --state-file, what the snapshots cost on their own.
    proc, port, _ = durability.start(None if os.environ.get("PCE_NO_STATE") else state,
                                     "--persist-interval", "1h")
    try:
        durability.load_devices(port, devices)
        time.sleep(1)
        base = durability.rss_mib(proc)[0]
        print("devices %d: %.0f MiB before" % (devices, base), flush=True)
        socks = durability.slow_readers(port)
        print("ten clients that never read: %.0f MiB (+%.0f)" % (
            durability.rss_mib(proc)[0], durability.rss_mib(proc)[0] - base), flush=True)
        for s in socks:
            s.close()
        time.sleep(2)
        base = durability.rss_mib(proc)[0]
        socks = []
        for i in range(10):
            status, _, _ = durability.request(
                port, "POST", "/v1/customers/%s/deviceBatches" % durability.CUSTOMER,
                {"batchId": "W%d" % i, "devices": [{"productKey": "W-%d" % i}]})
            assert status == 202, status
            socks += durability.slow_readers(port, clients=1, wait=0.5)
        time.sleep(2)
        rss, hwm = durability.rss_mib(proc)
        print("ten such clients, a write before each: %.0f MiB (+%.0f; peak %.0f)" % (
            rss, rss - base, hwm), flush=True)
        for s in socks:
            s.close()
    finally:
        durability.stop(proc)


if __name__ == "__main__":
    main()
