#!/usr/bin/env python3
"""The control-plane recipes of docs/ci.md, run against an emulator and checked (stdlib only).

Start the emulator with a manual clock at the documented time, then run this:

    partner-center-emulator --clock manual --clock-start 2026-11-21T10:00:00Z &
    PCE_URL=http://127.0.0.1:8080 python3 docs/ci_recipes.py

It walks through what docs/ci.md shows: a job moved by /_emulator/clock/advance, a reset, a
503 fault and a client retry with the same MS-RequestId, a 429 throttle, and the request journal.
Exits 0 when every answer is the documented one, 1 naming the first that is not. .ci/run runs it.
"""

import json
import os
import sys
import urllib.error
import urllib.request
import uuid

BASE = os.environ.get("PCE_URL", "http://127.0.0.1:8080").rstrip("/")
# A customer of its own, so that these recipes touch nothing else.
CUSTOMER = "5b8f3c1e-2d4a-4f6b-9c0d-1e2f3a4b5c6d"
AUTH = "Bearer ci-token"
JSON = "application/json; charset=utf-8"


class Mismatch(Exception):
    pass


def call(method, path, body=None, headers=None):
    """Returns (status, headers, body parsed as JSON when there is one)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, got, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        status, got, raw = e.code, e.headers, e.read()
    return status, got, (json.loads(raw) if raw else None)


def pc(method, path, body=None, headers=None):
    """A Partner Center call for this script's customer."""
    return call(method, f"/v1/customers/{CUSTOMER}{path}", body, {"Authorization": AUTH, **(headers or {})})


def expect(what, actual, expected):
    if actual != expected:
        raise Mismatch(f"{what}: got {actual!r}, expected {expected!r}")
    print(f"ok   {what}")


def expect_json(what, answer, status, body=None):
    got_status, headers, got_body = answer
    expect(f"{what}: status", got_status, status)
    expect(f"{what}: content type", headers.get("Content-Type"), JSON)
    if body is not None:
        expect(f"{what}: body", got_body, body)
    return got_body


def job_status(location):
    return expect_json(f"GET {location}", call("GET", "/v1" + location, headers={"Authorization": AUTH}), 200)["status"]


def clean():
    expect("POST /_emulator/reset", call("POST", "/_emulator/reset")[0], 204)


def main():
    expect_json("GET /_emulator/clock", call("GET", "/_emulator/clock"), 200, {"now": "2026-11-21T10:00:00Z", "mode": "manual"})
    clean()

    # Deterministic jobs: the manual clock.
    device = {"hardwareHash": "aGFzaDE=", "serialNumber": "S1"}
    status, headers, _ = pc("POST", "/deviceBatches", {"batchId": "Batch1", "devices": [device]})
    expect("POST deviceBatches", status, 202)
    location = headers["Location"]
    expect("a new job", job_status(location), "queued")
    expect("the job without a clock move", job_status(location), "queued")
    expect_json("advance 1 s", call("POST", "/_emulator/clock/advance", {"seconds": 1}), 200, {"now": "2026-11-21T10:00:01Z", "mode": "manual"})
    expect("the job after 1 s", job_status(location), "processing")
    expect_json("advance 2 s", call("POST", "/_emulator/clock/advance", {"seconds": 2}), 200, {"now": "2026-11-21T10:00:03Z", "mode": "manual"})
    expect("the job after 3 s", job_status(location), "finished")
    expect("advance by a negative amount", call("POST", "/_emulator/clock/advance", {"seconds": -1})[0], 400)

    # A clean emulator for every test.
    expect("POST /_emulator/reset", call("POST", "/_emulator/reset")[0], 204)
    batches = expect_json("GET deviceBatches after a reset", pc("GET", "/deviceBatches"), 200)
    expect("batches after a reset", batches["items"], [])
    expect("reset of a customer that is not a GUID", call("POST", "/_emulator/reset?customer=nope")[0], 400)

    # Retry tests: two 503s, then the client's third try with the same MS-RequestId goes through.
    rule = {"method": "POST", "path": "/v1/customers/*/deviceBatches", "status": 503, "times": 2}
    stored = expect_json("POST /_emulator/faults", call("POST", "/_emulator/faults", rule), 201)
    expect("the stored rule keeps the rule", {k: stored.get(k) for k in rule}, rule)
    expect("the stored rule has not fired", stored.get("fired"), 0)
    rule_id = stored["id"]
    uuid.UUID(rule_id)
    request_id = str(uuid.uuid4())
    retried = {"batchId": "Retried", "devices": [device]}
    answers = [pc("POST", "/deviceBatches", retried, {"MS-RequestId": request_id})[0] for _ in range(3)]
    expect("three tries of one batch creation", answers, [503, 503, 202])
    listed = expect_json("GET /_emulator/faults", call("GET", "/_emulator/faults"), 200)
    expect("the rule fired twice", [(f["id"], f["fired"]) for f in listed["faults"]], [(rule_id, 2)])
    batches = expect_json("GET deviceBatches after the retries", pc("GET", "/deviceBatches"), 200)
    expect("one batch after three tries", [b["id"] for b in batches["items"]], ["Retried"])

    # A 429 throttle, once.
    throttle = {"method": "GET", "path": "/v1/customers/*/deviceBatches", "throttle": {"retryAfterSeconds": 5}, "times": 1}
    expect("POST /_emulator/faults (throttle)", call("POST", "/_emulator/faults", throttle)[0], 201)
    status, headers, body = pc("GET", "/deviceBatches")
    expect("a throttled read", (status, headers.get("Retry-After"), body), (429, "5", {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 5 seconds."}))
    expect("the read after the throttle", pc("GET", "/deviceBatches")[0], 200)

    # Asserting what the client sent.
    journal = expect_json(
        "GET /_emulator/requests",
        call("GET", f"/_emulator/requests?customer={CUSTOMER}&method=POST&path=/v1/customers/*/deviceBatches"),
        200,
    )
    tries = [r for r in journal["requests"] if r.get("requestId") == request_id]
    expect("the journal's tries", [(r["status"], r.get("faultId")) for r in tries], [(503, rule_id), (503, rule_id), (202, None)])
    expect("what the client sent", [json.loads(r["body"]) for r in tries], [retried] * 3)
    expect("no Authorization in the journal", "ci-token" in json.dumps(journal), False)
    expect("DELETE /_emulator/requests", call("DELETE", "/_emulator/requests")[0], 204)
    journal = expect_json("GET /_emulator/requests after the delete", call("GET", f"/_emulator/requests?customer={CUSTOMER}"), 200)
    expect("the journal after the delete", journal["requests"], [])

    # A full reset also drops the fault rules and the journal.
    expect("POST /_emulator/faults (before the reset)", call("POST", "/_emulator/faults", rule)[0], 201)
    pc("GET", "/deviceBatches")
    clean()
    expect_json("GET /_emulator/faults after a reset", call("GET", "/_emulator/faults"), 200, {"faults": []})
    journal = expect_json("GET /_emulator/requests after a reset", call("GET", f"/_emulator/requests?customer={CUSTOMER}"), 200)
    expect("the journal after a reset", journal["requests"], [])
    print("every docs/ci.md recipe answered as documented")


if __name__ == "__main__":
    try:
        main()
    except (Mismatch, KeyError, ValueError, OSError) as e:
        print(f"FAIL {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
