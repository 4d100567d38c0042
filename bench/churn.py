#!/usr/bin/env python3
"""Memory under device churn (BENCHMARKS.md, "Device churn"): one customer uploads N new devices
into one batch, lists and deletes them all, round after round; the process's VmRSS is printed at
checkpoints. A deleted device's memory should be reused, so RSS stays flat after the first rounds
(jobs are dropped by `--job-retention` on a manual clock moved each round).

    python3 bench/churn.py [BINARY] [ROUNDS] [DEVICES]

Standard library only; BINARY defaults to target/release/partner-center-emulator.
"""
import http.client, json, os, socket, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "partner-center-emulator")
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
N = int(sys.argv[3]) if len(sys.argv) > 3 else 200
CUST = "c7f3c849-129f-4b85-a96d-4f8e88b315a3"
H = {"Content-Type": "application/json"}


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


def main():
    port = free_port()
    proc = subprocess.Popen([BIN, "--bind", f"127.0.0.1:{port}", "--auth", "off", "--clock", "manual",
                             "--queued-for", "0s", "--processing-for", "0s", "--job-retention", "1m"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                c.request("GET", "/_emulator/health"); c.getresponse().read(); break
            except OSError:
                time.sleep(0.05)
        base = f"/v1/customers/{CUST}/deviceBatches"

        def call(method, path, body=None):
            c.request(method, path, body=None if body is None else json.dumps(body), headers=H)
            r = c.getresponse(); data = r.read()
            if r.status >= 300:
                raise RuntimeError(f"{method} {path}: {r.status} {data[:200]!r}")
            return data

        call("POST", base, {"batchId": "churn", "devices": [{"productKey": "SEED"}]})
        start = time.time()
        for r in range(ROUNDS):
            devices = [{"productKey": f"R{r}-{i}"} for i in range(N)]
            call("POST", f"{base}/churn/devices", devices)
            token, ids = None, []
            while True:
                if token:
                    H["MS-ContinuationToken"] = token
                page = json.loads(call("GET", f"{base}/churn/devices"))
                H.pop("MS-ContinuationToken", None)
                ids += [d["id"] for d in page["items"] if d.get("productKey", "").startswith(f"R{r}-")]
                token = page.get("continuationToken")
                if not token:
                    break
            for i in ids:
                call("DELETE", f"{base}/churn/devices/{i}")
            call("POST", "/_emulator/clock/advance", {"seconds": 120})
            if (r + 1) % (ROUNDS // 10 or 1) == 0:
                print(f"round {r + 1}: {(r + 1) * N} devices deleted, VmRSS {rss_kib(proc.pid)} KiB, "
                      f"{time.time() - start:.0f} s", flush=True)
    finally:
        proc.kill(); proc.wait()


if __name__ == "__main__":
    main()
