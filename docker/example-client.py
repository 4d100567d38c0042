#!/usr/bin/env python3
"""A Partner Center client's whole upload flow against the emulator, in plain Python (stdlib only).

Creates a device batch, polls the upload job to `finished`, and lists the batch's devices.
Exits 0 when every step answered as Partner Center documents, 1 otherwise, saying which step.

Settings (environment):
  PCE_URL       base URL of the emulator            (default http://127.0.0.1:8080)
  PCE_CUSTOMER  customer (tenant) id                 (default a fixed example GUID)
  PCE_TIMEOUT   seconds to wait for health and job   (default 60)

docker/docker-compose.yml runs it as a one-shot service; .ci/run runs it against a freshly built
binary so that this demonstration cannot rot.
"""

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

BASE = os.environ.get("PCE_URL", "http://127.0.0.1:8080").rstrip("/")
CUSTOMER = os.environ.get("PCE_CUSTOMER", "c7f3c849-129f-4b85-a96d-4f8e88b315a3")
TIMEOUT = float(os.environ.get("PCE_TIMEOUT", "60"))
# The emulator accepts any non-empty bearer token; a real client gets one from Azure AD.
TOKEN = "Bearer example-client-token"


class StepFailed(Exception):
    pass


def call(method, path, body=None, expect=200):
    """Sends one request and returns (headers, parsed JSON body or None); fails on another status."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("Authorization", TOKEN)
    request.add_header("Accept", "application/json")
    # A correlation id per call makes the emulator's log lines and journal easy to match.
    request.add_header("MS-CorrelationId", str(uuid.uuid4()))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        status, headers, raw = e.code, e.headers, e.read()
    except OSError as e:
        raise StepFailed(f"{method} {path}: {e}") from e
    if status != expect:
        raise StepFailed(f"{method} {path}: answered {status}, expected {expect}: {raw.decode(errors='replace')}")
    return headers, (json.loads(raw) if raw else None)


def wait_until_healthy():
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(BASE + "/_emulator/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise StepFailed(f"{BASE} was not healthy within {TIMEOUT:g} s")
        time.sleep(0.5)


def main():
    wait_until_healthy()
    print(f"emulator at {BASE} is healthy")

    # Fresh names and hashes each run: with --state-file, earlier runs' devices are still there
    # and would come back as ZtdDeviceAlreadyAssigned.
    run = uuid.uuid4().hex[:8]
    batch = f"ExampleBatch-{run}"
    devices = [
        {
            "hardwareHash": base64.b64encode(f"example-hash-{run}-{n}".encode()).decode(),
            "serialNumber": f"EX-{run}-{n}",
        }
        for n in (1, 2)
    ]

    # 1. Create the batch: 202 Accepted, an empty body and the job's Location (without /v1).
    headers, _ = call(
        "POST",
        f"/v1/customers/{CUSTOMER}/deviceBatches",
        {"batchId": batch, "devices": devices},
        expect=202,
    )
    location = headers.get("Location")
    if not location:
        raise StepFailed("POST deviceBatches: no Location header")
    print(f"created batch {batch}; upload job at {location}")

    # 2. Poll the job until it is terminal.
    deadline = time.monotonic() + TIMEOUT
    seen = None
    while True:
        _, job = call("GET", "/v1" + location)
        if job["status"] != seen:
            seen = job["status"]
            print(f"job {job['batchTrackingId']}: {seen}")
        if seen == "finished":
            break
        if time.monotonic() > deadline:
            raise StepFailed(f"job still {seen} after {TIMEOUT:g} s")
        time.sleep(0.5)
    failed = [d for d in job["devicesStatus"] if d["status"] != "finished"]
    if failed:
        raise StepFailed(f"devices failed to upload: {json.dumps(failed)}")

    # 3. List the batch's devices (one page: the batch holds two).
    _, page = call("GET", f"/v1/customers/{CUSTOMER}/deviceBatches/{batch}/devices")
    serials = sorted(d["serialNumber"] for d in page["items"])
    expected = sorted(d["serialNumber"] for d in devices)
    if serials != expected:
        raise StepFailed(f"batch {batch} lists {serials}, expected {expected}")
    for device in page["items"]:
        print(f"device {device['id']} serial {device['serialNumber']} uploaded {device['uploadedDate']}")
    print(f"ok: {len(serials)} devices registered in {batch}")


if __name__ == "__main__":
    try:
        main()
    except StepFailed as e:
        print(f"example client failed: {e}", file=sys.stderr)
        sys.exit(1)
