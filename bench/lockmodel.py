#!/usr/bin/env python3
"""A lock-hold model of the emulator's throughput on more cores than this machine has.

Inputs, all measured on this machine: the server CPU per request (from a wrk run), the time an
upload holds its customer's lock, and the time every request spends in locks that all customers
share (fault rules, the journal) plus the cache-line transfers of the shared atomics (the world
gate, the change counter). The model is a closed-system discrete-event simulation: `cores` worker
threads take requests back to back; each request runs its parallel part, then holds its customer's
lock, then the shared lock; a thread waiting for a lock keeps its core idle (std mutexes park the
tokio worker). With one customer every request queues on one lock, so throughput stops at
1 / hold; with one customer per connection only the shared lock is common.

    python3 bench/lockmodel.py --cpu-us 38 --hold-us 2.5 --global-us 0.6 [--cores 2,16,64]

Standard library only; deterministic (seeded).
"""

import argparse
import heapq
import json
import random

# A contended atomic read-modify-write moves a cache line between cores: ~100 ns on a two-socket
# server, ~40-70 ns within one die. Taken as 0.1 us per shared RMW, pessimistically.
RMW_US = 0.1
# Shared-line RMWs per request that every customer touches: the world gate (2), the change
# counter (1).
SHARED_RMWS = 3


def simulate(cores, cpu_us, hold_us, global_us, customers, requests=200_000, seed=1):
    """Requests per second of `cores` threads, each request holding one of `customers` locks
    for hold_us and the shared lock for global_us, out of cpu_us of CPU in all."""
    rng = random.Random(seed)
    parallel = max(cpu_us - hold_us - global_us, 0.0)
    free_at = {}  # lock -> time it becomes free (FIFO by arrival: a lock is granted in order)
    # Each core: (time it is next ready to start a step, core, step, request's customer)
    events = [(rng.uniform(0, parallel), c, 0, 0) for c in range(cores)]
    heapq.heapify(events)
    done, end = 0, 0.0
    jitter = lambda x: x * rng.uniform(0.8, 1.2)
    while done < requests:
        t, core, step, cust = heapq.heappop(events)
        if step == 0:  # the first half of the parallel work, then wait for the customer lock
            cust = rng.randrange(customers)
            heapq.heappush(events, (t + jitter(parallel / 2), core, 1, cust))
        elif step == 1:  # hold the customer's lock
            start = max(t, free_at.get(("c", cust), 0.0))
            free_at[("c", cust)] = start + jitter(hold_us)
            heapq.heappush(events, (free_at[("c", cust)] + jitter(parallel / 2), core, 2, cust))
        else:  # the shared lock, then the request is answered
            start = max(t, free_at.get("g", 0.0))
            free_at["g"] = start + jitter(global_us)
            done += 1
            end = free_at["g"]
            heapq.heappush(events, (end, core, 0, 0))
    return done / end * 1e6


def predict(cpu_us, hold_us, global_us, cores_list=(2, 16, 64), customers_list=(1, None)):
    """Rows of (cores, customers, req/s, req/s if nothing were shared); None customers = one
    customer per core x 4 (the many-customers case)."""
    rows = []
    for cores in cores_list:
        ideal = cores / cpu_us * 1e6
        for customers in customers_list:
            n = customers or cores * 4
            rps = simulate(cores, cpu_us, hold_us, global_us, n)
            rows.append(dict(cores=cores, customers=n, rps=rps, ideal=ideal))
    return rows


def global_us_of(locks):
    """The shared part of a request from lock_hold's measurements: fault matching's two lock
    sections, the journal's record, and the shared atomics."""
    sections = locks["fire_fault_no_rules_ns"] + locks["journal_record_ns"]
    return sections / 1000 + SHARED_RMWS * RMW_US


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cpu-us", type=float, required=True, help="server CPU per request, us")
    p.add_argument("--hold-us", type=float, help="customer lock hold per request, us")
    p.add_argument("--global-us", type=float, help="shared lock hold per request, us")
    p.add_argument("--locks",
                   help="a LOCKS json line from `cargo run --release --example lock_hold`")
    p.add_argument("--cores", default="2,16,64")
    a = p.parse_args()
    if a.locks:
        locks = json.loads(a.locks.removeprefix("LOCKS "))
        hold = locks["upload5_hold_ns"] / 1000
        glob = global_us_of(locks)
    else:
        hold, glob = a.hold_us, a.global_us
    print(f"cpu {a.cpu_us} us/request, customer lock {hold:.2f} us, shared {glob:.2f} us")
    for r in predict(a.cpu_us, hold, glob, [int(c) for c in a.cores.split(",")]):
        print(f"{r['cores']:>3} cores, {r['customers']:>4} customers: {r['rps']:>10,.0f} req/s "
              f"({r['rps'] / r['ideal']:.2f} of {r['ideal']:,.0f}, nothing shared)")


if __name__ == "__main__":
    main()
