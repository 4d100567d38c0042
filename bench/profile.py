#!/usr/bin/env python3
"""Profiles one benchmark scenario of the emulator's release binary (build it first, e.g. with
bench/run.sh --list after a bench/run.sh run, or cargo build --release). Loopback only.

  python3 bench/profile.py cpu post|postdup|get [SECONDS]   perf record while wrk drives the route
  python3 bench/profile.py restore STATE_FILE                perf record a --state-file start-up
  python3 bench/profile.py heap DEVICES                      heaptrack: live heap by allocation site
  python3 bench/profile.py malloc DEVICES                    glibc malloc_stats (via gdb) at checkpoints

perf uses the cpu-clock software event: hardware counters are not available on this VM. Output goes
to target/bench/profile/; read it with `perf report -i FILE --children --sort symbol -g none`.
"""

import collections
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import driver as d  # noqa: E402

OUT = os.path.join(d.ROOT, "target", "bench", "profile")


def perf_cmd(out, freq=1999):
    return ["perf", "record", "-e", "cpu-clock", "-F", str(freq), "--call-graph", "dwarf,32768",
            "-o", out]


def top(data, pattern="partner_center_emulator", n=40):
    report = subprocess.run(["perf", "report", "-i", data, "--children", "--sort", "symbol", "-g",
                             "none", "--stdio"], capture_output=True, text=True).stdout
    lines = [ln for ln in report.splitlines()
             if "%" in ln and not ln.startswith("#") and pattern in ln and "(inlined)" not in ln]
    print("\n".join(ln[:200] for ln in lines[:n]))


def cpu(mode, seconds=8):
    args = ["--log-format", "json"]
    if mode == "get":
        args += ["--queued-for", "0s", "--processing-for", "0s"]
    server = d.Server("product", args)
    try:
        if mode == "get":
            path = d.prepare_job(server)
        else:
            d.prepare_batches(server, 1)
            path = f"/v1/customers/{d.CUSTOMER}/deviceBatches/bench-0/devices"
        d.run_wrk(server, mode, path, 32, 2)
        data = os.path.join(OUT, f"{mode}.perf.data")
        perf = subprocess.Popen(perf_cmd(data) + ["-p", str(server.proc.pid), "--", "sleep",
                                                  str(seconds)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu0 = server.cpu_s()
        r = d.run_wrk(server, mode, path, 32, seconds)
        perf.wait()
        print(f"{mode}: {r['rps']:.0f} req/s, p99 {r['p99_us'] / 1000:.2f} ms, "
              f"{(server.cpu_s() - cpu0) * 1e6 / r['requests']:.1f} us CPU/request (under perf)")
    finally:
        server.stop()
    top(data)
    print(f"\nperf data: {data}")


def restore(state_file):
    port = d.free_port()
    data = os.path.join(OUT, "restore.perf.data")
    started = time.perf_counter()
    p = subprocess.Popen(perf_cmd(data, 499) + [d.PRODUCT, "--bind", f"127.0.0.1:{port}",
                                                "--state-file", state_file,
                                                "--persist-interval", "1h"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            if d.health_ok(port):
                break
        except OSError:
            time.sleep(0.01)
    print(f"healthy after {time.perf_counter() - started:.2f} s (under perf)")
    kill_children(p, d.PRODUCT)
    p.wait()
    top(data)
    print(f"\nperf data: {data}")


def kill_children(parent, exe):
    kids = subprocess.run(["pgrep", "-P", str(parent.pid)], capture_output=True,
                          text=True).stdout.split()
    for k in kids:
        try:
            if os.readlink(f"/proc/{k}/exe") == exe:
                os.kill(int(k), signal.SIGTERM if exe != d.PRODUCT else signal.SIGKILL)
        except OSError:
            pass


def populate(port, devices, after_chunk=None):
    tails = d.hash_tails(10000)
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for c in range(devices // 10000):
        devs = d.hashed_devices_json(c, 10000, tails)
        if c == 0:
            path = f"/v1/customers/{d.CUSTOMER}/deviceBatches"
            body = '{"batchId":"bench-million","devices":' + devs + "}"
        else:
            path = f"/v1/customers/{d.CUSTOMER}/deviceBatches/bench-million/devices"
            body = devs
        conn.request("POST", path, body=body.encode(), headers=d.JSON_HEADERS)
        r = conn.getresponse()
        r.read()
        if r.status != 202:
            raise RuntimeError(f"chunk {c}: {r.status}")
        if after_chunk:
            after_chunk((c + 1) * 10000)
    conn.close()


def heap(devices):
    """Live heap by the emulator function that allocated it, after `devices` uploads (the process
    is killed, so everything still allocated counts as live)."""
    port = d.free_port()
    base = os.path.join(OUT, f"heap-{devices}")
    p = subprocess.Popen(["heaptrack", "-o", base, d.PRODUCT, "--bind", f"127.0.0.1:{port}",
                          "--max-body", "64MiB", "--queued-for", "0s", "--processing-for", "0s"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            if d.health_ok(port):
                break
        except OSError:
            time.sleep(0.05)
    populate(port, devices)
    kill_children(p, d.PRODUCT)
    p.wait()
    stacks = base + ".stacks"
    subprocess.run(["heaptrack_print", "-f", base + ".zst", "--print-leaks", "0", "--print-peaks",
                    "0", "--print-allocators", "0", "--print-temporary", "0", "-F", stacks,
                    "--flamegraph-cost-type", "leaked"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    agg = collections.Counter()
    with open(stacks) as f:
        for line in f:
            stack, _, n = line.rstrip().rpartition(" ")
            frames = stack.split(";")
            own = [i for i, fr in enumerate(frames) if "(batches.rs)" in fr or "(snapshot.rs)" in fr
                   or "(body.rs)" in fr or "(decode.rs)" in fr or "(journal.rs)" in fr]
            if own:
                i = own[-1]
                key = " -> ".join(fr[:50] for fr in frames[i:i + 4])
            else:
                key = "(elsewhere) " + " <- ".join(fr[:40] for fr in frames[-3:])
            agg[key] += int(n)
    print(f"live heap after {devices:,} devices: {sum(agg.values()) / 1e6:.1f} MB")
    for k, v in agg.most_common(20):
        print(f"{v / 1e6:9.2f} MB  {v / devices:7.1f} B/device  {k}")


def malloc(devices):
    log_path = os.path.join(OUT, "malloc-stats.log")
    server = d.Server("product", ["--max-body", "64MiB", "--queued-for", "0s",
                                  "--processing-for", "0s"], log_path=log_path)

    def stats(done):
        if done not in (100000, 500000, devices):
            return
        subprocess.run(["gdb", "-p", str(server.proc.pid), "-batch", "-ex",
                        "call (void)malloc_stats()"], capture_output=True)
        time.sleep(0.3)
        with open(log_path, errors="replace") as f:
            text = f.read()
        block = text[text.rfind("Total (incl. mmap):"):].splitlines()[1:3]
        print(f"{done:>9,} devices: VmRSS {server.rss_kib() / 1024:.0f} MiB; "
              + "; ".join(" ".join(b.split()) for b in block))

    try:
        populate(server.port, devices, stats)
    finally:
        server.stop()


def main():
    os.makedirs(OUT, exist_ok=True)
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    what, arg = sys.argv[1], sys.argv[2]
    if what == "cpu":
        cpu(arg, int(sys.argv[3]) if len(sys.argv) > 3 else 8)
    elif what == "restore":
        restore(arg)
    elif what == "heap":
        heap(int(arg))
    elif what == "malloc":
        malloc(int(arg))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
