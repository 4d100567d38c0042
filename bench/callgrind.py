#!/usr/bin/env python3
"""Instructions per request under callgrind, for comparing middleware layouts without the noise of
a shared machine: a server that answers N requests (POST devices, 5 new each; GET batchJobStatus
of a 100-device job) minus one that answers none, over N. One keep-alive client, log lines on.

    python3 bench/callgrind.py target/release/partner-center-emulator 2000 /tmp/cg
    python3 bench/callgrind.py bench/baseline/target/release/pce-bench-baseline 2000 /tmp/cg-base

The bare-axum baseline (bench/baseline/) takes the same requests: its figure is the floor the
emulator's is compared with. A fourth argument K > 1 measures only POST, with the uploads rotating
over K customers (batch B of each) as wrk.lua's many-customers mode does:

    python3 bench/callgrind.py target/release/partner-center-emulator 2000 /tmp/cg32 32
"""
import http.client, json, os, re, signal, socket, subprocess, sys, time, uuid, glob
BIN = sys.argv[1]; N = int(sys.argv[2]); OUT = sys.argv[3]
K = int(sys.argv[4]) if len(sys.argv) > 4 else 1
CUST = "c7f3c849-129f-4b85-a96d-4f8e88b315a3"
def customer(i):
    return CUST if K == 1 else f"c7f3c849-129f-4b85-a96d-{i % K:012x}"
H = {"Authorization": "Bearer t", "Content-Type": "application/json"}
class OneWrite(http.client.HTTPConnection):
    """Sends a request's head and body in one write, as wrk does (http.client sends two: the
    second poll of the connection a two-segment request needs is not what a benchmark measures)."""
    def _send_output(self, message_body=None, encode_chunked=False):
        self._buffer.extend((b"", b""))
        msg = b"\r\n".join(self._buffer)
        del self._buffer[:]
        self.send(msg + (message_body or b""))
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def run(kind, n):
    port = free_port()
    out = f"{OUT}.{kind}.{n}"
    for f in glob.glob(out + "*"): os.remove(f)
    env = dict(os.environ, RUST_LOG="partner_center_emulator=info")
    flags = [] if "baseline" in os.path.basename(BIN) else ["--queued-for", "0s", "--processing-for", "0s"]
    p = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", BIN,
                          "--bind", f"127.0.0.1:{port}", *flags],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60); c.request("GET", "/_emulator/health"); c.getresponse().read(); break
        except OSError: time.sleep(0.1)
    c = OneWrite("127.0.0.1", port, timeout=60)
    devs = [{"productKey": f"SETUP-{i}"} for i in range(100)]
    c.request("POST", f"/v1/customers/{CUST}/deviceBatches", json.dumps({"batchId": "B", "devices": devs}), H)
    r = c.getresponse(); r.read(); loc = r.getheader("Location")
    c.request("GET", "/v1" + loc, headers=H); c.getresponse().read()
    for k in range(K if K > 1 else 0):
        c.request("POST", f"/v1/customers/{customer(k)}/deviceBatches",
                  json.dumps({"batchId": "B", "devices": [{"productKey": f"SETUP-C{k}"}]}), H)
        r = c.getresponse(); r.read(); assert r.status == 202, r.status
    # Warm: one of each.
    for i in range(n):
        if kind == "get":
            c.request("GET", "/v1" + loc, headers=H)
        else:
            body = json.dumps([{"productKey": f"K-{i}-{j}-{uuid.uuid4()}"} for j in range(5)])
            c.request("POST", f"/v1/customers/{customer(i)}/deviceBatches/B/devices", body, H)
        r = c.getresponse(); r.read(); assert r.status in (200, 202), r.status
    c.close()
    p.send_signal(signal.SIGTERM); p.wait(timeout=120)
    total = 0
    for f in glob.glob(out + "*"):
        for line in open(f):
            m = re.match(r"(?:summary|totals): (\d+)", line)
            if m: total = max(total, int(m.group(1)))
    return total
for kind in ("post", "get") if K == 1 else ("post",):
    zero = run(kind, 0); full = run(kind, N)
    print(f"{kind}: {(full - zero) / N:,.0f} instructions/request (N={N}; {zero:,} at 0, {full:,} at N)", flush=True)
