#!/usr/bin/env python3
"""The benchmark driver behind bench/run.sh: runs each scenario against the emulator's release
binary and the baseline, and prints a table of medians with min-max.

Standard library only. Everything listens on 127.0.0.1; every load run is bounded in time.
"""

import argparse
import base64
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
# PCE_BENCH_PRODUCT runs another build of the emulator (an older commit's, for a before/after in
# one sitting) through the same scenarios.
PRODUCT = os.environ.get("PCE_BENCH_PRODUCT") or os.path.join(ROOT, "target", "release",
                                                              "partner-center-emulator")
BASELINE = os.path.join(BENCH, "baseline", "target", "release", "pce-bench-baseline")
WRK_LUA = os.path.join(BENCH, "wrk.lua")
# The side-by-side peer: WireMock's standalone jar as the npm package `wiremock` ships it,
# installed by bench/run.sh (pinned there) under target/bench/wiremock.
WIREMOCK_VERSION = "3.13.2"
WIREMOCK_JAR = os.path.join(ROOT, "target", "bench", "wiremock", "node_modules", "wiremock", "build",
                            f"wiremock-standalone-{WIREMOCK_VERSION}.jar")
CUSTOMER = "c7f3c849-129f-4b85-a96d-4f8e88b315a3"
AUTH = {"Authorization": "Bearer bench-token"}
JSON_HEADERS = {**AUTH, "Content-Type": "application/json"}

SCENARIOS = {
    "post": "POST .../deviceBatches/{id}/devices, 5 devices a request, 32 connections (vs baseline and WireMock)",
    "postdup": "the same with the same 5 devices in every request (806 outcomes, no growth)",
    "get": "GET .../batchJobStatus/{id} of a 100-device job, 32 connections (vs baseline and WireMock)",
    "upload10k": "one upload of 10,000 devices with 4K hardware hashes (~40 MB)",
    "upload100k": "one upload of 100,000 product-key devices, then its status document",
    "million": "1,000,000 devices with 4K hashes: RSS, page 9,900 vs page 1, state-file restore",
    "startup": "start-up to first healthy answer, empty state",
    "contention": "64 connections uploading into one batch vs into 64 batches",
    "customers": "32 connections uploading into 32 customers vs into one; lock hold times and "
                 "the 16-core model (bench/lock_hold.rs, bench/lockmodel.py)",
    "tls": "the POST run over HTTPS (keep-alive) vs HTTP on the same emulator; TLS handshakes/s",
    "tokens": "token issuance: client_credentials POSTs to /{tenant}/oauth2/v2.0/token",
}


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health_ok(port):
    """One GET /_emulator/health on a fresh connection; True on a 200."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        data = s.recv(64)
    return data.startswith(b"HTTP/1.1 200")


class Server:
    """A product or baseline process on a free loopback port."""

    def __init__(self, kind, args=(), log_path=None, tls_dir=None):
        self.kind = kind
        self.port = free_port()
        if kind == "wiremock":
            # args: the root directory holding mappings/.
            cmd = ["java", "-jar", WIREMOCK_JAR, "--port", str(self.port), "--bind-address",
                   "127.0.0.1", "--no-request-journal", "--disable-request-logging", "--disable-banner",
                   "--root-dir", *args]
        else:
            binary = PRODUCT if kind == "product" else BASELINE
            cmd = [binary, "--bind", f"127.0.0.1:{self.port}", *args]
        self.tls_port = None
        if tls_dir:
            self.tls_port = free_port()
            cmd += ["--tls-bind", f"127.0.0.1:{self.tls_port}", "--tls-dir", tls_dir]
        self.log_file = open(log_path, "wb") if log_path else subprocess.DEVNULL
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=self.log_file, stderr=subprocess.STDOUT)
        self.ready_s = self.wait_healthy()

    def wait_healthy(self, timeout=120.0):
        while True:
            try:
                if health_ok(self.port):
                    return time.perf_counter() - self.started
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode} before it was healthy")
            if time.perf_counter() - self.started > timeout:
                raise RuntimeError(f"{self.kind} not healthy after {timeout}s")
            time.sleep(0.0002)

    def url(self, path=""):
        return f"http://127.0.0.1:{self.port}{path}"

    def tls_url(self, path=""):
        return f"https://127.0.0.1:{self.tls_port}{path}"

    def conn(self, timeout=300):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def cpu_s(self):
        """User + system CPU seconds the process has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kib(self):
        return proc_status_kib(self.proc.pid, "VmRSS")

    def hwm_kib(self):
        return proc_status_kib(self.proc.pid, "VmHWM")

    def stop(self, graceful=False, timeout=120):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
            self.proc.wait(timeout=timeout)
        if self.log_file is not subprocess.DEVNULL:
            self.log_file.close()


def proc_status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def request(server, method, path, body=None, headers=None):
    c = server.conn()
    try:
        c.request(method, path, body=body, headers=headers or AUTH)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def upload_expecting_202(server, path, body):
    status, headers, data = request(server, "POST", path, body, JSON_HEADERS)
    if status != 202:
        raise RuntimeError(f"POST {path} answered {status}: {data[:300]!r}")
    return {k.lower(): v for k, v in headers.items()}["location"]


def curl_time(url, method="GET", data_file=None, headers=None):
    """(status, seconds, bytes received, response headers) of one curl request, as curl times it."""
    hdr_file = tempfile.NamedTemporaryFile(delete=False)
    hdr_file.close()
    cmd = ["curl", "-sS", "-o", "/dev/null", "-D", hdr_file.name, "-X", method,
           "-w", "%{http_code} %{time_total} %{size_download}", "-H", "Expect:"]
    for k, v in (headers or AUTH).items():
        cmd += ["-H", f"{k}: {v}"]
    if data_file:
        cmd += ["--data-binary", "@" + data_file]
    out = subprocess.run(cmd + [url], check=True, capture_output=True, text=True).stdout.split()
    with open(hdr_file.name) as f:
        hdrs = {}
        for line in f:
            if ":" in line:
                k, v = line.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
    os.unlink(hdr_file.name)
    return int(out[0]), float(out[1]), int(out[2]), hdrs


# ---------------------------------------------------------------------------------------------
# Bodies


def pk_device(i):
    return {"productKey": f"{i // 100000:05d}-{i % 100000:05d}-00329-00000-AA606"}


def hashed_devices_json(chunk, count, tails):
    """`count` devices with unique realistic 4K hardware hashes (3,000 bytes -> 4,000 base64
    characters, as `Get-WindowsAutopilotInfo` produces), serial number and product key."""
    parts = []
    for i in range(count):
        h = base64.b64encode(chunk.to_bytes(4, "big") + i.to_bytes(2, "big") + tails[i]).decode()
        parts.append(
            f'{{"hardwareHash":"{h}","productKey":"{chunk:05d}-{i:05d}-00329-00000-AA606",'
            f'"serialNumber":"PF{chunk:03d}{i:06d}"}}'
        )
    return "[" + ",".join(parts) + "]"


def hash_tails(count):
    # Random bytes make the hashes incompressible and distinct, like real ones; the 6-byte prefix
    # (chunk, index) makes them unique across chunks while generating 3 KB of randomness once.
    return [os.urandom(2994) for _ in range(count)]


# ---------------------------------------------------------------------------------------------
# Measurements


def med(xs):
    return statistics.median(xs) if xs else float("nan")


class Results:
    def __init__(self):
        self.rows = []  # dicts: scenario, metric, unit, baseline [..], product [..], ratio, target, met
        self.notes = []

    def add(self, scenario, metric, unit, product, baseline=None, target=None, met=None,
            ratio=None, ratios=None):
        self.rows.append(dict(scenario=scenario, metric=metric, unit=unit, product=product,
                              baseline=baseline, target=target, met=met, ratio=ratio,
                              ratios=ratios))


def run_wrk(server, mode, path, connections, seconds, batches=1, threads=2, tls=False,
            customers=1):
    url = server.tls_url(path) if tls else server.url(path)
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
           "--timeout", "10s", "-s", WRK_LUA, url, "--", mode, CUSTOMER, str(batches),
           str(customers)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    m = re.search(r"^BENCH (\{.*\})$", out, re.M)
    if not m:
        raise RuntimeError(f"no BENCH line from wrk:\n{out}")
    r = json.loads(m.group(1))
    if r["status_errors"] or r["socket_errors"]:
        raise RuntimeError(f"{server.kind} {mode}: {r['status_errors']} error answers, "
                           f"{r['socket_errors']} socket errors: {r}")
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    return r


def prepare_batches(server, count, timings_zero=False):
    """bench-0..bench-(count-1) for this customer, each created with one device."""
    for b in range(count):
        body = json.dumps({"batchId": f"bench-{b}", "devices": [
            {"productKey": f"SETUP-{b:05d}-00329-00000-AA606"}]})
        upload_expecting_202(server, f"/v1/customers/{CUSTOMER}/deviceBatches", body)


def prepare_job(server, devices=100):
    """A finished upload job of `devices` devices; its batchJobStatus path."""
    body = json.dumps({"batchId": "bench-job", "devices": [
        {"productKey": f"00329-{i:05d}-00000-AA606", "serialNumber": f"SN-BENCH-{i:08d}"}
        for i in range(devices)]})
    location = upload_expecting_202(server, f"/v1/customers/{CUSTOMER}/deviceBatches", body)
    return "/v1" + location


def wiremock_ready():
    """Why the WireMock peer cannot run, or None when it can."""
    if not shutil.which("java"):
        return "java is not installed"
    if not os.path.exists(WIREMOCK_JAR):
        return f"{WIREMOCK_JAR} is missing (bench/run.sh installs it)"
    return None


def wiremock_root(work):
    """Stubs answering what the post and get scenarios send, as the emulator answers them as far
    as a static stub can: the same status, Location and MS-* header names (fixed values: a stub
    does not mint ids), and a finished 100-device job of the baseline's shape and size."""
    root = os.path.join(work, "wiremock")
    os.makedirs(os.path.join(root, "mappings"), exist_ok=True)
    ms = {"MS-RequestId": "f7e96c14-efbf-48fc-adc7-fb7005dad636",
          "MS-CorrelationId": "5a5b5aaf-34a3-4718-a647-208aed47e44e",
          "MS-CV": "4I+GFmpc/ND6hTHj.0", "MS-ServerId": "030020525"}
    location = f"/customers/{CUSTOMER}/batchJobStatus/d786b858-092f-4e83-9f75-3cdcdbfcc873"
    entries = [{"deviceId": f"6f1a0c2e-4b7d-4e8f-9a0b-{i:012x}", "serialNumber": f"SN-BENCH-{i:08}",
                "productKey": f"00329-00000-{i:05}-AA606", "status": "finished",
                "attributes": {"objectType": "DeviceUploadDetails"}} for i in range(100)]
    job = {"batchTrackingId": "0b0f1d4c-7d1e-4c52-9d43-3f8e5a1b2c3d", "status": "finished",
           "startedTime": "2026-11-21T10:00:00.1234567+00:00",
           "completedTime": "2026-11-21T10:00:00.1234567+00:00", "devicesStatus": entries,
           "attributes": {"objectType": "BatchUploadDetails"}}
    mappings = [
        {"request": {"method": "POST", "urlPathPattern": "/v1/customers/[^/]+/deviceBatches(/[^/]+/devices)?"},
         "response": {"status": 202, "headers": {"Location": location, **ms}}},
        {"request": {"method": "GET", "urlPathPattern": "/v1/customers/[^/]+/batchJobStatus/[^/]+"},
         "response": {"status": 200, "body": json.dumps(job, separators=(",", ":")),
                      "headers": {"Content-Type": "application/json; charset=utf-8", **ms}}},
        {"request": {"method": "GET", "urlPath": "/_emulator/health"},
         "response": {"status": 200, "jsonBody": {"status": "ok"}}},
    ]
    with open(os.path.join(root, "mappings", "bench.json"), "w") as f:
        json.dump({"mappings": mappings}, f)
    return root


def throughput_pair(opts, res, scenario, work=None):
    """Interleaved baseline/product (and WireMock) wrk runs on fresh servers; the ratio pairs runs
    of one round."""
    label = {"post": "POST devices (5 new/request)",
             "postdup": "POST devices (same 5 each request: 806)",
             "get": "GET batchJobStatus (100 devices)"}[scenario]
    product_args = ["--log-format", "json"]
    if scenario == "get":
        product_args += ["--queued-for", "0s", "--processing-for", "0s"]
    runs = {"baseline": [], "product": [], "wiremock": []}
    kinds = ["baseline", "product"]
    missing = wiremock_ready() if scenario in ("post", "get") and not opts.no_wiremock else "skipped"
    if missing is None:
        kinds.append("wiremock")
        wm_root = wiremock_root(work)
    elif missing != "skipped":
        res.notes.append(f"{label}: no WireMock peer: {missing}")
    for r in range(opts.runs):
        for kind in kinds:
            args = {"product": product_args, "wiremock": [wm_root] if kind == "wiremock" else ()}
            server = Server(kind, args.get(kind, ()))
            try:
                if scenario in ("post", "postdup"):
                    prepare_batches(server, 1)
                    path = f"/v1/customers/{CUSTOMER}/deviceBatches/bench-0/devices"
                else:
                    path = prepare_job(server)
                    status, _, body = request(server, "GET", path)
                    if status != 200:
                        raise RuntimeError(f"{kind} job status answered {status}")
                # A JVM answers from its interpreter until the JIT has compiled the hot paths.
                warmup = max(opts.warmup, 10) if kind == "wiremock" else opts.warmup
                run_wrk(server, scenario, path, 32, warmup)
                cpu = server.cpu_s()
                result = run_wrk(server, scenario, path, 32, opts.duration)
                result["cpu_us"] = (server.cpu_s() - cpu) * 1e6 / result["requests"]
                result["rss_kib"] = server.rss_kib()
            finally:
                server.stop()
            runs[kind].append(result)
            log(f"{scenario} run {r + 1}/{opts.runs} {kind}: {result['rps']:.0f} req/s, "
                f"p99 {result['p99_us'] / 1000:.2f} ms, {result['cpu_us']:.0f} us CPU/request, "
                f"{result['bytes'] / result['requests']:.0f} B/answer")
    b_rps = [x["rps"] for x in runs["baseline"]]
    p_rps = [x["rps"] for x in runs["product"]]
    ratios = [p / b for p, b in zip(p_rps, b_rps)]
    target = 0.60 if scenario == "get" else 0.70
    ratio = med(p_rps) / med(b_rps)
    res.add(label, "throughput", "req/s", p_rps, b_rps, f">= {target:.2f} x baseline",
            ratio >= target, ratio, ratios)
    b_p99 = [x["p99_us"] / 1000 for x in runs["baseline"]]
    p_p99 = [x["p99_us"] / 1000 for x in runs["product"]]
    ratio99 = med(p_p99) / med(b_p99)
    res.add(label, "p99 latency", "ms", p_p99, b_p99, "<= 2 x baseline", ratio99 <= 2.0, ratio99,
            [p / b for p, b in zip(p_p99, b_p99)])
    res.add(label, "p50 latency", "ms", [x["p50_us"] / 1000 for x in runs["product"]],
            [x["p50_us"] / 1000 for x in runs["baseline"]])
    p_cpu = [x["cpu_us"] for x in runs["product"]]
    b_cpu = [x["cpu_us"] for x in runs["baseline"]]
    res.add(label, "server CPU per request", "us", p_cpu, b_cpu, ratio=med(p_cpu) / med(b_cpu),
            ratios=[p / b for p, b in zip(p_cpu, b_cpu)])
    res.add(label, "bytes per answer", "B",
            [x["bytes"] / x["requests"] for x in runs["product"]],
            [x["bytes"] / x["requests"] for x in runs["baseline"]])
    w = runs["wiremock"]
    if w:
        peer = f"WireMock {WIREMOCK_VERSION}"
        w_rps = [x["rps"] for x in w]
        res.add(label, f"throughput (baseline column: {peer})", "req/s", p_rps, w_rps,
                ratio=med(p_rps) / med(w_rps), ratios=[p / b for p, b in zip(p_rps, w_rps)])
        w_cpu = [x["cpu_us"] for x in w]
        res.add(label, f"server CPU per request (baseline column: {peer})", "us", p_cpu, w_cpu,
                ratio=med(p_cpu) / med(w_cpu), ratios=[p / b for p, b in zip(p_cpu, w_cpu)])
        res.add(label, f"p99 latency (baseline column: {peer})", "ms", p_p99,
                [x["p99_us"] / 1000 for x in w])


def scenario_upload10k(opts, res, work):
    path = os.path.join(work, "upload10k.json")
    n = 10000
    body = '{"batchId":"bench-10k","devices":' + hashed_devices_json(7, n, hash_tails(n)) + "}"
    with open(path, "w") as f:
        f.write(body)
    log(f"upload10k body: {len(body) / 1e6:.1f} MB")
    times = []
    for r in range(opts.runs):
        server = Server("product", ["--max-body", "64MiB", "--log-format", "json"])
        try:
            status, t, _, _ = curl_time(server.url(f"/v1/customers/{CUSTOMER}/deviceBatches"),
                                        "POST", path, JSON_HEADERS)
        finally:
            server.stop()
        if status != 202:
            raise RuntimeError(f"upload10k answered {status}")
        times.append(t)
        log(f"upload10k run {r + 1}: 202 in {t * 1000:.0f} ms")
    res.add(f"1 upload, 10,000 devices, 4K hashes ({len(body) / 1e6:.0f} MB)", "time to 202", "s",
            times, target="<= 1 s", met=med(times) <= 1.0)


def scenario_upload100k(opts, res, work):
    path = os.path.join(work, "upload100k.json")
    n = 100000
    with open(path, "w") as f:
        json.dump({"batchId": "bench-100k", "devices": [pk_device(i) for i in range(n)]}, f,
                  separators=(",", ":"))
    size = os.path.getsize(path)
    posts, gets, sizes = [], [], []
    for r in range(opts.runs):
        server = Server("product", ["--queued-for", "0s", "--processing-for", "0s",
                                    "--log-format", "json"])
        try:
            status, t, _, hdrs = curl_time(server.url(f"/v1/customers/{CUSTOMER}/deviceBatches"),
                                           "POST", path, JSON_HEADERS)
            if status != 202:
                raise RuntimeError(f"upload100k answered {status}")
            posts.append(t)
            job = "/v1" + hdrs["location"]
            if r == 0:
                st, _, doc = request(server, "GET", job)
                entries = len(json.loads(doc)["devicesStatus"])
                if st != 200 or entries != n:
                    raise RuntimeError(f"status document: {st}, {entries} entries")
            status, t, got, _ = curl_time(server.url(job))
            if status != 200:
                raise RuntimeError(f"status document answered {status}")
            gets.append(t)
            sizes.append(got)
        finally:
            server.stop()
        log(f"upload100k run {r + 1}: 202 in {posts[-1] * 1000:.0f} ms, status document "
            f"({sizes[-1] / 1e6:.1f} MB) in {gets[-1] * 1000:.0f} ms")
    label = f"1 upload, 100,000 product-key devices ({size / 1e6:.1f} MB)"
    res.add(label, "time to 202", "s", posts, target="<= 0.5 s", met=med(posts) <= 0.5)
    res.add(label, f"100,000-entry status document ({med(sizes) / 1e6:.1f} MB)", "s", gets,
            target="<= 1 s", met=med(gets) <= 1.0)


def page(conn, path, token=None, correlation=None):
    headers = dict(AUTH)
    if token:
        headers["MS-ContinuationToken"] = token
    if correlation:
        headers["MS-CorrelationId"] = correlation
    t = time.perf_counter()
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    data = r.read()
    elapsed = time.perf_counter() - t
    if r.status != 200:
        raise RuntimeError(f"page answered {r.status}: {data[:300]!r}")
    m = re.match(rb'\{"continuationToken":"([^"]+)"', data)
    return (m.group(1).decode() if m else None), elapsed, len(data)


def server_latencies(log_path, correlations):
    """latency_ms of the requests with these correlation ids, from the JSON log."""
    wanted = set(correlations)
    found = {}
    with open(log_path, "rb") as f:
        for line in f:
            if b"latency_ms" not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            cid = entry.get("correlation_id")
            if cid in wanted:
                found[cid] = float(entry["latency_ms"])
    return [found[c] for c in correlations if c in found]


def scenario_million(opts, res, work):
    n, chunk = opts.devices, 10000
    chunks = n // chunk
    tails = hash_tails(chunk)
    batch_path = f"/v1/customers/{CUSTOMER}/deviceBatches/bench-million/devices"
    collected = {k: [] for k in ("rss", "hwm", "first", "deep", "first_client", "deep_client",
                                 "chunk_p50", "chunk_max", "file", "save", "restore",
                                 "restore_rss", "per_device")}
    checkpoints = {}
    deep_page = min(9900, n // 100 - 1)
    for r in range(opts.runs):
        state_file = os.path.join(work, "million-state.json")
        # The append-only log goes with its state file: a log that does not continue the state
        # file beside it makes the emulator refuse to start.
        for stale in (state_file, state_file + ".log"):
            if os.path.exists(stale):
                os.unlink(stale)
        log_path = os.path.join(work, f"million-{r}.log")
        server = Server("product", ["--max-body", "64MiB", "--queued-for", "0s",
                                    "--processing-for", "0s", "--log-format", "json",
                                    "--state-file", state_file, "--persist-interval", "1h"],
                        log_path=log_path)
        try:
            rss0 = server.rss_kib()
            checkpoints[0] = rss0
            conn = server.conn()
            chunk_times = []
            t_all = time.perf_counter()
            for c in range(chunks):
                devices = hashed_devices_json(c, chunk, tails)
                if c == 0:
                    path = f"/v1/customers/{CUSTOMER}/deviceBatches"
                    body = '{"batchId":"bench-million","devices":' + devices + "}"
                else:
                    path, body = batch_path, devices
                body = body.encode()
                t = time.perf_counter()
                conn.request("POST", path, body=body, headers=JSON_HEADERS)
                resp = conn.getresponse()
                data = resp.read()
                chunk_times.append(time.perf_counter() - t)
                if resp.status != 202:
                    raise RuntimeError(f"chunk {c} answered {resp.status}: {data[:300]!r}")
                done = (c + 1) * chunk
                if done in (100000, 500000) or done == n:
                    checkpoints[done] = server.rss_kib()
                    log(f"million run {r + 1}: {done} devices, RSS {checkpoints[done] / 1024:.0f} MiB, "
                        f"{time.perf_counter() - t_all:.0f} s so far")
            conn.close()
            rss, hwm = server.rss_kib(), server.hwm_kib()
            collected["rss"].append(rss / 1024)
            collected["hwm"].append(hwm / 1024)
            collected["chunk_p50"].append(med(chunk_times))
            collected["chunk_max"].append(max(chunk_times))
            lo = 100000 if n > 100000 and 100000 in checkpoints else 0
            collected["per_device"].append((checkpoints[n] - checkpoints[lo]) * 1024 / (n - lo))

            # Paging: walk once to collect tokens, then time page 1 and the deep page alternately.
            conn = server.conn()
            tokens = {1: None}
            t = time.perf_counter()
            for p in range(1, deep_page):
                tokens[p + 1], _, _ = page(conn, batch_path, tokens[p])
            log(f"million run {r + 1}: walked {deep_page - 1} pages in {time.perf_counter() - t:.0f} s")
            corr = {"first": [], "deep": []}
            for _ in range(opts.page_samples):
                for which, p in (("first", 1), ("deep", deep_page)):
                    cid = str(uuid.uuid4())
                    _, elapsed, _ = page(conn, batch_path, tokens[p], cid)
                    corr[which].append(cid)
                    collected[which + "_client"].append(elapsed * 1000)
            conn.close()
            time.sleep(0.2)  # let the last log lines reach the file
            for which in ("first", "deep"):
                lat = server_latencies(log_path, corr[which])
                collected[which].extend(lat)
        except BaseException:
            server.stop()
            raise
        t = time.perf_counter()
        server.stop(graceful=True)
        collected["save"].append(time.perf_counter() - t)
        collected["file"].append(os.path.getsize(state_file) / 1e6)
        log(f"million run {r + 1}: state file {collected['file'][-1]:.0f} MB written on SIGTERM "
            f"in {collected['save'][-1]:.1f} s")
        restored = Server("product", ["--state-file", state_file, "--persist-interval", "1h"])
        try:
            collected["restore"].append(restored.ready_s)
            collected["restore_rss"].append(restored.rss_kib() / 1024)
            status, _, doc = request(restored, "GET", batch_path)
            if status != 200 or doc.count(b'"serialNumber"') != 100:
                raise RuntimeError(f"restored server pages wrongly: {status}")
        finally:
            restored.stop()
        log(f"million run {r + 1}: restored in {collected['restore'][-1]:.2f} s, "
            f"RSS {collected['restore_rss'][-1]:.0f} MiB")
    label = f"{n:,} devices with 4K hashes (100 uploads of 10,000)"
    res.add(label, "VmRSS after the uploads", "MiB", collected["rss"], target="<= 400 MiB",
            met=med(collected["rss"]) <= 400)
    res.add(label, "VmHWM (peak RSS)", "MiB", collected["hwm"])
    res.add(label, f"bytes per device (RSS delta {lo:,} -> {n:,})", "B", collected["per_device"])
    res.add(label, "one 10,000-device upload, 202 (client, keep-alive)", "s", collected["chunk_p50"])
    res.add(label, "slowest 10,000-device upload", "s", collected["chunk_max"])
    res.add(f"GET devices of a {n:,}-device batch", f"page {deep_page:,}, server time", "ms",
            collected["deep"], target="<= 5 ms", met=med(collected["deep"]) <= 5.0)
    res.add(f"GET devices of a {n:,}-device batch", "page 1, server time", "ms", collected["first"])
    res.add(f"GET devices of a {n:,}-device batch", f"page {deep_page:,} / page 1 (server time)", "x",
            [med(collected["deep"]) / med(collected["first"])], target="independent of position",
            met=med(collected["deep"]) <= max(5.0, 2 * med(collected["first"])))
    res.add(f"GET devices of a {n:,}-device batch", f"page {deep_page:,}, client round trip", "ms",
            collected["deep_client"])
    res.add(f"--state-file with {n:,} devices", "file size", "MB", collected["file"])
    res.add(f"--state-file with {n:,} devices", "graceful stop (writes the file)", "s",
            collected["save"])
    res.add(f"--state-file with {n:,} devices", "restore: start to first healthy answer", "s",
            collected["restore"], target="<= 3 s", met=med(collected["restore"]) <= 3.0)
    res.add(f"--state-file with {n:,} devices", "VmRSS after restore", "MiB", collected["restore_rss"])
    res.notes.append("RSS checkpoints (KiB, last run): " +
                     ", ".join(f"{k:,} devices: {v:,}" for k, v in sorted(checkpoints.items())))


def scenario_tls(opts, res, work):
    """HTTPS against HTTP on one emulator (both listeners), interleaved: keep-alive POSTs, then
    one request per connection (each a full TLS handshake, ECDSA P-256 certificate)."""
    post = {"http": [], "https": []}
    cpu = {"http": [], "https": []}
    close = {"http": [], "https": []}
    for r in range(opts.runs):
        server = Server("product", ["--log-format", "json"], tls_dir=os.path.join(work, "tls"))
        try:
            prepare_batches(server, 1)
            path = f"/v1/customers/{CUSTOMER}/deviceBatches/bench-0/devices"
            for scheme in ("http", "https"):
                tls = scheme == "https"
                run_wrk(server, "post", path, 32, opts.warmup, tls=tls)
                before = server.cpu_s()
                result = run_wrk(server, "post", path, 32, opts.duration, tls=tls)
                cpu[scheme].append((server.cpu_s() - before) * 1e6 / result["requests"])
                post[scheme].append(result["rps"])
                result = run_wrk(server, "close", "/_emulator/health", 32, opts.duration, tls=tls)
                close[scheme].append(result["rps"])
                log(f"tls run {r + 1} {scheme}: POST {post[scheme][-1]:.0f} req/s, "
                    f"new connection per request {close[scheme][-1]:.0f} req/s")
        finally:
            server.stop()
    ratio = med(post["https"]) / med(post["http"])
    res.add("POST devices (5 new/request), HTTPS vs HTTP", "throughput (baseline column: HTTP)",
            "req/s", post["https"], post["http"], ">= 0.80 x HTTP", ratio >= 0.8, ratio,
            [t / h for t, h in zip(post["https"], post["http"])])
    res.add("POST devices (5 new/request), HTTPS vs HTTP", "server CPU per request", "us",
            cpu["https"], cpu["http"], ratio=med(cpu["https"]) / med(cpu["http"]),
            ratios=[t / h for t, h in zip(cpu["https"], cpu["http"])])
    res.add("GET health, a new connection per request", "TLS handshakes (+ request) per second "
            "(baseline column: plain TCP)", "req/s", close["https"], close["http"],
            ratio=med(close["https"]) / med(close["http"]))


def scenario_tokens(opts, res, work):
    rates = []
    for r in range(opts.runs):
        server = Server("product", ["--log-format", "json"], tls_dir=os.path.join(work, "tls"))
        try:
            # The signing key is made on first use; the warm-up pays for it.
            run_wrk(server, "token", "/contoso.onmicrosoft.com/oauth2/v2.0/token", 32, opts.warmup)
            result = run_wrk(server, "token", "/contoso.onmicrosoft.com/oauth2/v2.0/token", 32,
                             opts.duration)
        finally:
            server.stop()
        rates.append(result["rps"])
        log(f"tokens run {r + 1}: {result['rps']:.0f} tokens/s, p99 {result['p99_us'] / 1000:.2f} ms")
    res.add("token issuance (client_credentials, RS256)", "tokens per second", "req/s", rates)


def scenario_startup(opts, res, work):
    samples = {"product": [], "baseline": []}
    for _ in range(max(10, opts.runs)):
        for kind in ("baseline", "product"):
            s = Server(kind)
            samples[kind].append(s.ready_s * 1000)
            s.stop()
    res.add("start-up, empty state", "spawn to first healthy answer", "ms", samples["product"],
            samples["baseline"], "<= 20 ms", med(samples["product"]) <= 20.0)


def scenario_contention(opts, res, work):
    same, distinct = [], []
    for r in range(opts.runs):
        for mode, out in (("same", same), ("distinct", distinct)):
            server = Server("product", ["--log-format", "json"])
            try:
                prepare_batches(server, 64)
                path = f"/v1/customers/{CUSTOMER}/deviceBatches/bench-0/devices"
                batches = 1 if mode == "same" else 64
                run_wrk(server, "post", path, 64, opts.warmup, batches)
                result = run_wrk(server, "post", path, 64, opts.duration, batches)
            finally:
                server.stop()
            out.append(result["rps"])
            log(f"contention run {r + 1} {mode}: {result['rps']:.0f} req/s, "
                f"p99 {result['p99_us'] / 1000:.2f} ms")
    ratio = med(same) / med(distinct)
    res.add("64 connections uploading: one batch vs 64 batches", "throughput (baseline column: 64 batches)",
            "req/s", same, distinct, ">= 0.5 x distinct", ratio >= 0.5, ratio,
            [s / d for s, d in zip(same, distinct)])


def bench_customer(k):
    """The k-th customer of wrk.lua's many-customers mode."""
    return f"c7f3c849-129f-4b85-a96d-{k:012x}"


def scenario_customers(opts, res, work):
    """N connections over N customers vs N connections into one: the store's per-customer locks
    should make the first no slower; then the lock hold times and the model for more cores."""
    sys.path.insert(0, BENCH)
    import lockmodel

    n = 32
    runs = {"one": [], "many": []}
    for r in range(opts.runs):
        for mode in ("one", "many"):
            server = Server("product", ["--log-format", "json"])
            try:
                count = 1 if mode == "one" else n
                for k in range(count):
                    customer = CUSTOMER if count == 1 else bench_customer(k)
                    body = json.dumps({"batchId": "bench-0", "devices": [
                        {"productKey": f"SETUP-{k:05d}-00329-00000-AA606"}]})
                    upload_expecting_202(server, f"/v1/customers/{customer}/deviceBatches", body)
                path = f"/v1/customers/{CUSTOMER}/deviceBatches/bench-0/devices"
                run_wrk(server, "post", path, n, opts.warmup, customers=count)
                cpu = server.cpu_s()
                result = run_wrk(server, "post", path, n, opts.duration, customers=count)
                result["cpu_us"] = (server.cpu_s() - cpu) * 1e6 / result["requests"]
            finally:
                server.stop()
            runs[mode].append(result)
            log(f"customers run {r + 1} {mode}: {result['rps']:.0f} req/s, "
                f"p99 {result['p99_us'] / 1000:.2f} ms, {result['cpu_us']:.0f} us CPU/request")
    one = [x["rps"] for x in runs["one"]]
    many = [x["rps"] for x in runs["many"]]
    ratio = med(many) / med(one)
    res.add(f"{n} connections uploading: {n} customers vs one", "throughput (baseline column: one customer)",
            "req/s", many, one, ">= 0.90 x one customer", ratio >= 0.9, ratio,
            [m / o for m, o in zip(many, one)])
    res.add(f"{n} connections uploading: {n} customers vs one", "server CPU per request", "us",
            [x["cpu_us"] for x in runs["many"]], [x["cpu_us"] for x in runs["one"]])

    example = os.path.join(ROOT, "target", "release", "examples", "lock_hold")
    out = subprocess.run([example, "100000"], check=True, capture_output=True, text=True).stdout
    m = re.search(r"^LOCKS (\{.*\})$", out, re.M)
    if not m:
        raise RuntimeError(f"no LOCKS line from lock_hold:\n{out}")
    locks = json.loads(m.group(1))
    log(f"lock hold times: {locks}")
    for key, label in (("upload5_hold_ns", "customer lock hold, 5-device upload"),
                       ("job_read_hold_ns", "customer lock hold, batchJobStatus read"),
                       ("gate_shared_ns", "world gate, shared acquire + release"),
                       ("fire_fault_no_rules_ns", "shared: fault rules, none defined"),
                       ("journal_record_ns", "shared: journal record"),
                       ("prune_nothing_expired_ns",
                        "customer lock hold, retention pass finding nothing to forget")):
        res.add("lock hold times (in-process, 100,000 devices held)", label, "ns", [locks[key]])
    threads = locks["threads"]
    res.add(f"store alone, {threads} threads uploading", "uploads/s (baseline column: same customer)",
            "req/s", [locks["store_uploads_per_s_distinct_customers"]],
            [locks["store_uploads_per_s_same_customer"]],
            ratio=locks["store_uploads_per_s_distinct_customers"]
            / locks["store_uploads_per_s_same_customer"])
    cpu_us = med([x["cpu_us"] for x in runs["one"]])
    hold = locks["upload5_hold_ns"] / 1000
    shared = lockmodel.global_us_of(locks)
    for row in lockmodel.predict(cpu_us, hold, shared):
        res.add(f"model: {row['cores']} cores ({cpu_us:.1f} us CPU, {hold:.2f} us customer lock, "
                f"{shared:.2f} us shared per request)",
                f"{row['customers']} customer(s): predicted req/s (baseline column: nothing shared)",
                "req/s", [row["rps"]], [row["ideal"]], ratio=row["rps"] / row["ideal"])


# ---------------------------------------------------------------------------------------------
# Report


def fmt_num(x, unit):
    if unit in ("req/s", "B", "MiB", "MB"):
        return f"{x:,.0f}"
    if unit == "s":
        return f"{x:.3f}"
    return f"{x:.2f}"


def fmt_dist(xs, unit):
    if not xs:
        return ""
    if len(xs) == 1:
        return fmt_num(xs[0], unit)
    return f"{fmt_num(med(xs), unit)} ({fmt_num(min(xs), unit)}–{fmt_num(max(xs), unit)})"


def table(res):
    lines = ["| scenario | metric | unit | emulator: median (min–max) | baseline: median (min–max) "
             "| ratio (min–max) | target | met |", "|---|---|---|---|---|---|---|---|"]
    for row in res.rows:
        ratio = ""
        if row["ratio"] is not None:
            ratio = f"{row['ratio']:.2f}"
            if row["ratios"] and len(row["ratios"]) > 1:
                ratio += f" ({min(row['ratios']):.2f}–{max(row['ratios']):.2f})"
        met = "" if row["met"] is None else ("yes" if row["met"] else "**no**")
        lines.append(f"| {row['scenario']} | {row['metric']} | {row['unit']} | "
                     f"{fmt_dist(row['product'], row['unit'])} | "
                     f"{fmt_dist(row['baseline'] or [], row['unit'])} | {ratio} | "
                     f"{row['target'] or ''} | {met} |")
    return "\n".join(lines)


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    load = os.getloadavg()
    return (f"{os.cpu_count()} CPUs ({model}), {mem_kib / 1024 / 1024:.1f} GiB RAM, "
            f"{platform.system()} {platform.release()}; load average at start "
            f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def main():
    p = argparse.ArgumentParser(prog="bench/run.sh", description="Runs the emulator's benchmark.")
    p.add_argument("--quick", action="store_true", help="1 run, 3 s load runs")
    p.add_argument("--runs", type=int, help="runs per scenario (default 3; 1 with --quick)")
    p.add_argument("--duration", type=int, help="seconds per load run (default 10; 3 with --quick)")
    p.add_argument("--devices", type=int, default=1_000_000,
                   help="devices in the 'million' scenario (a multiple of 10,000)")
    p.add_argument("--only", help="comma-separated scenarios: " + ",".join(SCENARIOS))
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--no-wiremock", action="store_true",
                   help="leave out the WireMock peer of the post and get scenarios")
    p.add_argument("--out", default=os.path.join(ROOT, "target", "bench"),
                   help="where results.md and results.json go")
    opts = p.parse_args()
    if opts.list:
        for k, v in SCENARIOS.items():
            print(f"{k:12} {v}")
        return 0
    opts.runs = opts.runs or (1 if opts.quick else 3)
    opts.duration = opts.duration or (3 if opts.quick else 10)
    opts.warmup = 1 if opts.quick else 2
    opts.page_samples = 10 if opts.quick else 20
    if opts.devices % 10000 or opts.devices < 20000:
        p.error("--devices must be a multiple of 10,000, at least 20,000")
    chosen = list(SCENARIOS) if not opts.only else [s.strip() for s in opts.only.split(",")]
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        p.error(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}")
    for tool in ("wrk", "curl"):
        if not shutil.which(tool):
            p.error(f"{tool} is not installed")
    os.makedirs(opts.out, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    header = (f"date: {started.strftime('%Y-%m-%d %H:%M UTC')}\nmachine: {machine()}\n"
              f"command: bench/run.sh {' '.join(sys.argv[1:])}\n"
              f"runs per scenario: {opts.runs}, load runs: {opts.duration} s after a "
              f"{opts.warmup} s warm-up, wrk -t2")
    log(header.replace("\n", "; "))
    res = Results()
    with tempfile.TemporaryDirectory(prefix="pce-bench-") as work:
        for name in chosen:
            log(f"scenario {name}: {SCENARIOS[name]}")
            t = time.perf_counter()
            if name in ("post", "postdup", "get"):
                throughput_pair(opts, res, name, work)
            else:
                globals()[f"scenario_{name}"](opts, res, work)
            log(f"scenario {name} took {time.perf_counter() - t:.0f} s")
    report = header + "\n\n" + table(res) + "\n"
    if res.notes:
        report += "\n" + "\n".join(f"- {n}" for n in res.notes) + "\n"
    print(report)
    with open(os.path.join(opts.out, "results.md"), "w") as f:
        f.write(report)
    with open(os.path.join(opts.out, "results.json"), "w") as f:
        json.dump({"header": header, "rows": res.rows, "notes": res.notes}, f, indent=1)
    log(f"written to {opts.out}/results.md and results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
