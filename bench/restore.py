#!/usr/bin/env python3
"""Restore time of a million-device state file (BENCHMARKS.md "Durability"): spawn of the release
binary on `--state-file` to its "listening" log line, a few times over the same file.

Standard library only. `bench/restore.py make [FILE]` writes the file once (a million product-key
devices, uploaded and saved on SIGTERM); `bench/restore.py time [FILE] [RUNS]` times the restores.
FILE defaults to target/restore-bench/state.json.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import durability  # noqa: E402


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "time"
    state = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        durability.ROOT, "target", "restore-bench", "state.json")
    if what == "make":
        os.makedirs(os.path.dirname(state), exist_ok=True)
        for stale in (state, state + ".log"):
            if os.path.exists(stale):
                os.remove(stale)
        proc, port, _ = durability.start(state)
        durability.load_devices(port, 1_000_000)
        print("saved in %.2f s, exit %s" % durability.stop(proc))
        return
    for _ in range(int(sys.argv[3]) if len(sys.argv) > 3 else 3):
        proc, _, seconds = durability.start(state)
        print("restore %.2f s" % seconds, flush=True)
        durability.stop(proc)


if __name__ == "__main__":
    main()
