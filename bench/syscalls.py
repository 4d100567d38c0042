#!/usr/bin/env python3
"""System calls a request, by kind, under wrk load (BENCHMARKS.md, "Where the wall clock goes"):
`strace -c -f` attached to the release binary and to the bare-axum baseline while wrk drives
POST devices (or GET batchJobStatus) for 3 s with 32 connections. strace slows the servers
several times over, so only the counts per request mean anything, not the times.

    python3 bench/syscalls.py [post|get]

Uses bench/driver.py's servers (PCE_BENCH_PRODUCT picks another emulator build); needs strace.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import driver as d  # noqa: E402


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "post"
    for kind in ("baseline", "product"):
        args = []
        if kind == "product":
            args = ["--log-format", "json"]
            if mode == "get":
                args += ["--queued-for", "0s", "--processing-for", "0s"]
        server = d.Server(kind, args)
        out = os.path.join(d.ROOT, "target", "bench", f"syscalls-{mode}-{kind}.txt")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        try:
            if mode == "get":
                path = d.prepare_job(server)
            else:
                if kind == "product":
                    d.prepare_batches(server, 1)
                path = f"/v1/customers/{d.CUSTOMER}/deviceBatches/bench-0/devices"
            st = subprocess.Popen(["strace", "-c", "-f", "-p", str(server.proc.pid), "-o", out],
                                  stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            r = d.run_wrk(server, mode, path, 32, 3)
            st.terminate()
            st.wait()
        finally:
            server.stop()
        n = r["requests"]
        print(f"{kind}: {n} requests")
        with open(out) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 5 and parts[3].isdigit() and parts[-1] != "total":
                    calls = int(parts[3])
                    if calls >= n // 100:
                        print(f"  {parts[-1]:<14} {calls / n:6.2f} a request")


if __name__ == "__main__":
    main()
