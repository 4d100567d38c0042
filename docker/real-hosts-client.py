#!/usr/bin/env python3
"""A client with Partner Center's and Entra ID's real host names hard-coded, as CIPP and the
PartnerCenter PowerShell module have them, run unmodified against the emulator (stdlib only).

It gets tokens from https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token
(`client_credentials` and `refresh_token`, as CIPP's Get-GraphToken does), then uploads a batch to
https://api.partnercenter.microsoft.com, polls the job to `finished` and lists the devices.
Nothing here names the emulator: docker/docker-compose.yml makes those names resolve to it
(network aliases) and makes this container trust its CA (`SSL_CERT_FILE`). Exits 0 when every
step answered as the real services document, 1 otherwise, saying which step.

Settings (environment): PCE_TENANT (default contoso-partner.onmicrosoft.com), PCE_CUSTOMER,
PCE_TIMEOUT (seconds for the job, default 60).
"""

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

LOGIN = "https://login.microsoftonline.com"
PARTNER_CENTER = "https://api.partnercenter.microsoft.com"
TENANT = os.environ.get("PCE_TENANT", "contoso-partner.onmicrosoft.com")
CUSTOMER = os.environ.get("PCE_CUSTOMER", "c7f3c849-129f-4b85-a96d-4f8e88b315a3")
TIMEOUT = float(os.environ.get("PCE_TIMEOUT", "60"))
CLIENT_ID = "6b5e1c9e-8f0a-4d1e-9c3b-2a7f4e5d6c8b"


class StepFailed(Exception):
    pass


def send(request, expect):
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        status, headers, raw = e.code, e.headers, e.read()
    except OSError as e:
        # A certificate the client does not trust, or a name that does not resolve, lands here.
        raise StepFailed(f"{request.get_method()} {request.full_url}: {e}") from e
    if status != expect:
        raise StepFailed(f"{request.get_method()} {request.full_url}: answered {status}, "
                         f"expected {expect}: {raw.decode(errors='replace')[:300]}")
    return headers, (json.loads(raw) if raw else None)


def token(form):
    body = urllib.parse.urlencode({"client_id": CLIENT_ID, **form}).encode()
    request = urllib.request.Request(f"{LOGIN}/{TENANT}/oauth2/v2.0/token", data=body,
                                     method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    _, answer = send(request, 200)
    for field in ("access_token", "token_type", "expires_in"):
        if field not in answer:
            raise StepFailed(f"token answer without {field}: {sorted(answer)}")
    claims = answer["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    # Clients like pliancy's Node library treat a token without `exp` as expired.
    if not isinstance(claims.get("exp"), int) or claims.get("aud") != PARTNER_CENTER:
        raise StepFailed(f"access token claims: exp {claims.get('exp')}, aud {claims.get('aud')}")
    return answer


def call(access_token, method, path, body=None, expect=200):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(PARTNER_CENTER + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {access_token}")
    request.add_header("Accept", "application/json")
    request.add_header("MS-RequestId", str(uuid.uuid4()))
    request.add_header("MS-CorrelationId", str(uuid.uuid4()))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    return send(request, expect)


def main():
    scope = f"{PARTNER_CENTER}/.default"
    app = token({"grant_type": "client_credentials", "client_secret": "local-dev-secret",
                 "scope": scope})
    print(f"client_credentials: app-only token, expires_in {app['expires_in']}")
    user = token({"grant_type": "refresh_token", "refresh_token": "local-dev-refresh-token",
                  "scope": f"{PARTNER_CENTER}/user_impersonation offline_access"})
    if "refresh_token" not in user:
        raise StepFailed("refresh_token grant answered no new refresh token")
    print("refresh_token: app+user token and a new refresh token")
    batch = f"real-hosts-{uuid.uuid4().hex[:8]}"
    headers, _ = call(user["access_token"], "POST", f"/v1/customers/{CUSTOMER}/deviceBatches",
                      {"batchId": batch, "devices": [{"productKey": f"{batch}-PK"}]}, expect=202)
    location = headers["Location"]
    print(f"created batch {batch}: 202, Location {location}")
    deadline = time.monotonic() + TIMEOUT
    while True:
        _, job = call(user["access_token"], "GET", "/v1" + location)
        if job["status"] == "finished":
            break
        if time.monotonic() > deadline:
            raise StepFailed(f"job still {job['status']} after {TIMEOUT:.0f} s")
        time.sleep(0.5)
    print(f"job finished: {job['devicesStatus'][0]['status']}")
    _, devices = call(user["access_token"], "GET",
                      f"/v1/customers/{CUSTOMER}/deviceBatches/{batch}/devices")
    if devices["totalCount"] != 1:
        raise StepFailed(f"expected 1 device, listed {devices['totalCount']}")
    print("listed 1 device: the real host names worked over TLS, unmodified")


if __name__ == "__main__":
    try:
        main()
    except StepFailed as e:
        print(f"real-hosts client failed: {e}", file=sys.stderr)
        sys.exit(1)
