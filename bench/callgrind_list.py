#!/usr/bin/env python3
"""Instructions per `GET deviceBatches` under callgrind, with JOBS retained upload jobs (one
device each) in 100 batches, all finished: a server that answers N listings minus one that
answers none after the same set-up, over N.

    python3 bench/callgrind_list.py target/release/partner-center-emulator 5000 100 /tmp/cgl
"""
import http.client, json, os, re, signal, socket, subprocess, sys, time, glob
BIN=sys.argv[1]; JOBS=int(sys.argv[2]); N=int(sys.argv[3]); OUT=sys.argv[4]
CUST="c7f3c849-129f-4b85-a96d-4f8e88b315a3"; H={"Authorization":"Bearer t","Content-Type":"application/json"}
def run(n):
    s=socket.socket(); s.bind(("127.0.0.1",0)); port=s.getsockname()[1]; s.close()
    out=f"{OUT}.{n}"
    for f in glob.glob(out+"*"): os.remove(f)
    p=subprocess.Popen(["valgrind","--tool=callgrind",f"--callgrind-out-file={out}",BIN,"--bind",f"127.0.0.1:{port}","--queued-for","0s","--processing-for","0s"],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            c=http.client.HTTPConnection("127.0.0.1",port,timeout=60); c.request("GET","/_emulator/health"); c.getresponse().read(); break
        except OSError: time.sleep(0.1)
    c=http.client.HTTPConnection("127.0.0.1",port,timeout=120)
    for b in range(100):
        c.request("POST",f"/v1/customers/{CUST}/deviceBatches",json.dumps({"batchId":f"B{b}","devices":[{"productKey":f"S{b}"}]}),H); r=c.getresponse(); r.read()
    for i in range(JOBS-100):
        c.request("POST",f"/v1/customers/{CUST}/deviceBatches/B{i%100}/devices",json.dumps([{"productKey":f"K{i}"}]),H); r=c.getresponse(); r.read()
    for _ in range(n):
        c.request("GET",f"/v1/customers/{CUST}/deviceBatches",headers=H); r=c.getresponse(); r.read(); assert r.status==200
    c.close(); p.send_signal(signal.SIGTERM); p.wait(timeout=300)
    total=0
    for f in glob.glob(out+"*"):
        for line in open(f):
            m=re.match(r"(?:summary|totals): (\d+)",line)
            if m: total=max(total,int(m.group(1)))
    return total
zero=run(0); full=run(N)
print(f"GET deviceBatches, {JOBS} jobs in 100 batches: {(full-zero)/N:,.0f} instructions/request (N={N})")
