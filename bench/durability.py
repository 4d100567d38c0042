#!/usr/bin/env python3
"""Durability figures for BENCHMARKS.md: save and restore time, write throughput per
--durability mode, and acknowledged writes lost to SIGKILL, at a given number of devices.

Standard library only; runs the release binary on 127.0.0.1 with a state file in a temporary
directory. Usage: bench/durability.py [--devices 100000,1000000] [--seconds 5] [--kills 5]
"""

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "partner-center-emulator")
CUSTOMER = "c7f3c849-129f-4b85-a96d-4f8e88b315a3"
HEADERS = {"Content-Type": "application/json"}


def start(state_file, *args):
    """Starts the binary; returns (process, port, seconds until it logged its address)."""
    began = time.monotonic()
    proc = subprocess.Popen(
        [BINARY, "--bind", "127.0.0.1:0", "--auth", "off", "--log-format", "json",
         *(["--state-file", state_file] if state_file else []), *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        m = re.search(r'"addr":"127\.0\.0\.1:(\d+)"', line)
        if m:
            port = int(m.group(1))
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, port, time.monotonic() - began
    raise RuntimeError("the emulator exited: %s" % proc.wait())


def request(port, method, path, body=None, timeout=120):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers=HEADERS)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    return resp.status, resp.getheader("Location"), payload


def load_devices(port, devices, prefix="L"):
    per = 10_000
    for b in range(0, devices, per):
        n = min(per, devices - b)
        body = {"batchId": "%s%d" % (prefix, b // per),
                "devices": [{"productKey": "%s-%d" % (prefix, b + i)} for i in range(n)]}
        status, _, _ = request(port, "POST", "/v1/customers/%s/deviceBatches" % CUSTOMER, body)
        assert status == 202, status


def writers(port, seconds, clients, tag):
    """Posts one-device batches from `clients` threads for `seconds`; returns the list of
    (ack time, job id) and the count of errors."""
    acks, errors, stop = [], [0], time.monotonic() + seconds
    lock = threading.Lock()

    def run(w):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        n = 0
        while time.monotonic() < stop:
            body = json.dumps({"batchId": "%s-%d-%d" % (tag, w, n),
                               "devices": [{"productKey": "%s-%d-%d" % (tag, w, n)}]})
            try:
                conn.request("POST", "/v1/customers/%s/deviceBatches" % CUSTOMER, body=body,
                             headers=HEADERS)
                resp = conn.getresponse()
                resp.read()
            except Exception:
                with lock:
                    errors[0] += 1
                return
            if resp.status == 202:
                with lock:
                    acks.append((time.monotonic(), resp.getheader("Location").split("/")[4]))
            n += 1

    threads = [threading.Thread(target=run, args=(w,)) for w in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return acks, errors[0]


def job_ids(port):
    status, _, payload = request(port, "GET", "/_emulator/state")
    assert status == 200
    doc = json.loads(payload)
    return {j["id"] for c in doc.get("customers", []) for j in c.get("jobs", [])}


def rss_mib(proc):
    """(VmRSS, VmHWM) of the process, in MiB."""
    with open("/proc/%d/status" % proc.pid) as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))


def slow_readers(port, clients=10, wait=3):
    """Opens `clients` connections that request /_emulator/state and never read."""
    socks = []
    for _ in range(clients):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /_emulator/state HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        socks.append(s)
    time.sleep(wait)
    return socks


def glob_ms(port):
    """A rule with ten `**` and one GET with 200 segments: the request that once froze the
    server."""
    status, _, _ = request(port, "POST", "/_emulator/faults",
                           {"path": "/v1" + "/**" * 10 + "/zzz", "status": 503})
    assert status == 201, status
    began = time.monotonic()
    request(port, "GET", "/v1" + "/a" * 200)
    took = (time.monotonic() - began) * 1000
    request(port, "DELETE", "/_emulator/faults")
    return took


def stop(proc):
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait()
    return time.monotonic() - began, code


def measure(devices, seconds, kills):
    out = {"devices": devices}
    tmp = tempfile.mkdtemp(prefix="pce-durability-")
    try:
        state = os.path.join(tmp, "state.json")
        proc, port, _ = start(state, "--persist-interval", "1h")
        load_devices(port, devices)
        out["glob_200_segments_ms"] = glob_ms(port)
        out["rss_before_slow_readers_mib"] = rss_mib(proc)[0]
        socks = slow_readers(port)
        out["rss_with_10_slow_readers_mib"], out["hwm_with_10_slow_readers_mib"] = rss_mib(proc)
        for sock in socks:
            sock.close()
        # A SIGTERM's final save is one compaction: the whole snapshot, the log emptied.
        out["save_s"], code = stop(proc)
        assert code == 0, code
        out["file_mb"] = os.path.getsize(state) / 1e6
        proc, port, out["restore_s"] = start(state, "--persist-interval", "1h")
        stop(proc)
        # The worst restore: a SIGKILL right after the load, so the restart replays the log as
        # well as reading the snapshot (the log is compacted once it outgrows a quarter of it).
        shutil.rmtree(tmp)
        os.makedirs(tmp)
        proc, port, _ = start(state, "--persist-interval", "200ms")
        load_devices(port, devices)
        time.sleep(1)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        out["killed_snapshot_mb"] = os.path.getsize(state) / 1e6
        out["killed_log_mb"] = os.path.getsize(state + ".log") / 1e6
        proc, port, out["restore_after_kill_s"] = start(state, "--persist-interval", "1h")
        stop(proc)
        for mode, args in [("interval", ["--durability", "interval", "--persist-interval", "200ms"]),
                           ("sync", ["--durability", "sync"])]:
            proc, port, _ = start(state, *args)
            acks, _ = writers(port, seconds, 8, "t" + mode)
            out["%s_writes_per_s" % mode] = len(acks) / seconds
            stop(proc)
            lost_total, acked_total, worst = 0, 0, 0.0
            for k in range(kills):
                proc, port, _ = start(state, *args)
                box = {}
                t = threading.Thread(target=lambda: box.update(
                    r=writers(port, 3 + random.random() * 2, 8, "k%s%d" % (mode, k))))
                t.start()
                time.sleep(1 + random.random())
                proc.send_signal(signal.SIGKILL)
                killed = time.monotonic()
                proc.wait()
                t.join()
                acks, _ = box["r"]
                proc, port, _ = start(state, *args)
                restored = job_ids(port)
                stop(proc)
                lost = [killed - at for at, job in acks if job not in restored]
                lost_total += len(lost)
                acked_total += len(acks)
                worst = max([worst] + lost)
            out["%s_kill_acked" % mode] = acked_total
            out["%s_kill_lost" % mode] = lost_total
            out["%s_kill_oldest_lost_s" % mode] = worst
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", default="100000,1000000")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--kills", type=int, default=5)
    args = parser.parse_args()
    random.seed(13)
    for devices in [int(d) for d in args.devices.split(",")]:
        print(json.dumps(measure(devices, args.seconds, args.kills)), flush=True)


if __name__ == "__main__":
    main()
