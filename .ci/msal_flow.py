#!/usr/bin/env python3
"""Microsoft's own MSAL for Python against the emulator answering as login.microsoftonline.com,
then the upload flow against https://api.partnercenter.microsoft.com with the tokens it got.

Nothing here knows the emulator's address except the name resolution below: MSAL and requests
use the real host names and port 443, and `socket.getaddrinfo` (in this process only) sends those
names to the emulator's HTTPS port. Only the emulator's CA is trusted (REQUESTS_CA_BUNDLE,
set here and nowhere else), so a certificate without those names fails the run.

Environment:
  PCE_URL        the emulator's plain HTTP address (control plane: clock, seed)
  PCE_TLS_PORT   its HTTPS port
  PCE_CA         its CA certificate (PEM file)
  PCE_AUTH       the emulator's --auth mode: "jwt" adds the enforcement checks
The emulator runs with a manual clock and jobs that finish at once (--queued-for 0s
--processing-for 0s), so expiry is driven by advancing the clock, never by waiting.
"""

import base64
import json
import os
import socket
import sys
import time
import urllib.request
import uuid

HOSTS = {"login.microsoftonline.com", "login.windows.net", "api.partnercenter.microsoft.com"}
CONTROL = os.environ["PCE_URL"]
TLS_PORT = int(os.environ["PCE_TLS_PORT"])
AUTH = os.environ.get("PCE_AUTH", "bearer")

# Trust the emulator's CA only, in this process only: the machine exports other bundles.
os.environ["REQUESTS_CA_BUNDLE"] = os.environ["PCE_CA"]
for var in ("CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
    os.environ.pop(var, None)

_real_getaddrinfo = socket.getaddrinfo


def _emulator_getaddrinfo(host, port, *args, **kwargs):
    if isinstance(host, bytes):
        host = host.decode()
    if host in HOSTS:
        return _real_getaddrinfo("127.0.0.1", TLS_PORT, *args, **kwargs)
    return _real_getaddrinfo(host, port, *args, **kwargs)


socket.getaddrinfo = _emulator_getaddrinfo

import msal  # noqa: E402  (after the resolution and trust set-up, which it reads at use)
import requests  # noqa: E402

PARTNER_TENANT = "contoso-partner.onmicrosoft.com"
OTHER_TENANT = "fabrikam-partner.onmicrosoft.com"
CLIENT_ID = "6b5e1c9e-8f0a-4d1e-9c3b-2a7f4e5d6c8b"
SECRET = "msal-flow-secret"
PC = "https://api.partnercenter.microsoft.com"
PC_USER_SCOPE = [f"{PC}/user_impersonation"]
PC_APP_SCOPE = [f"{PC}/.default"]
CUSTOMER = "c7f3c849-129f-4b85-a96d-4f8e88b315a3"

failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


def claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def control(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(CONTROL + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read()


def app_for(tenant):
    return msal.ConfidentialClientApplication(
        CLIENT_ID, client_credential=SECRET,
        authority=f"https://login.microsoftonline.com/{tenant}")


def pc(method, path, token, **kwargs):
    headers = {"Authorization": f"Bearer {token}", "MS-RequestId": str(uuid.uuid4())}
    return requests.request(method, PC + path, headers=headers, timeout=10, **kwargs)


def upload_flow(token, batch):
    """Create a batch, poll its job to finished, list the devices: the seed flow."""
    body = {"batchId": batch, "devices": [
        {"productKey": f"MSAL-{batch}-1"},
        {"serialNumber": f"SN-{batch}", "oemManufacturerName": "Contoso", "modelName": "Laptop"}]}
    r = pc("POST", f"/v1/customers/{CUSTOMER}/deviceBatches", token, json=body)
    check(r.status_code == 202 and r.content == b"", f"create batch {batch}: 202, empty body "
          f"(got {r.status_code} {r.text[:200]})")
    location = r.headers.get("Location", "")
    check(location.startswith(f"/customers/{CUSTOMER}/batchJobStatus/"),
          f"Location without /v1 ({location})")
    status = None
    for _ in range(20):
        r = pc("GET", "/v1" + location, token)
        status = r.json().get("status") if r.status_code == 200 else r.status_code
        if status == "finished":
            break
        time.sleep(0.05)
    check(status == "finished", f"job {batch} finished (last: {status})")
    r = pc("GET", f"/v1/customers/{CUSTOMER}/deviceBatches/{batch}/devices", token)
    items = r.json().get("items", []) if r.status_code == 200 else []
    check(r.status_code == 200 and len(items) == 2, f"batch {batch} lists its 2 devices "
          f"(got {r.status_code}, {len(items)})")


def main():
    # 1. client_credentials, as CIPP and most daemons do: an app-only token.
    app = app_for(PARTNER_TENANT)
    result = app.acquire_token_for_client(scopes=PC_APP_SCOPE)
    app_token = result.get("access_token")
    check(app_token is not None, f"client_credentials: a token ({result.get('error')}: "
          f"{result.get('error_description')})")
    if app_token is None:
        return
    c = claims(app_token)
    check(c.get("aud") == PC, f"app token aud {c.get('aud')}")
    # `roles` only for an app the seed gives roles, as Entra emits it only for granted ones.
    check(c.get("idtyp") == "app" and "scp" not in c and "upn" not in c,
          f"app token is app-only (idtyp {c.get('idtyp')}, {sorted(c)})")
    check(c.get("appid") == CLIENT_ID, "app token names the client id")
    check(isinstance(c.get("exp"), int) and c["exp"] > c.get("iat", 0), "app token has exp > iat")
    partner_tid = c.get("tid")
    # MSAL caches by expires_in: a second call is served from its cache.
    again = app.acquire_token_for_client(scopes=PC_APP_SCOPE)
    check(again.get("access_token") == app_token and again.get("token_source") == "cache",
          f"client_credentials: MSAL's cache answers the second call ({again.get('token_source')})")

    # 2. refresh_token, as CIPP does with the refresh token in its settings: app+user tokens,
    #    then a new refresh token that MSAL keeps and uses on its own.
    result = app.acquire_token_by_refresh_token("cipp-settings-refresh-token", scopes=PC_USER_SCOPE)
    user_token = result.get("access_token")
    check(user_token is not None, f"refresh_token: a token ({result.get('error')}: "
          f"{result.get('error_description')})")
    if user_token is None:
        return
    c = claims(user_token)
    check(c.get("aud") == PC and c.get("scp") == "user_impersonation" and "upn" in c
          and c.get("tid") == partner_tid, f"user token claims {sorted(c)}")
    accounts = app.get_accounts()
    check(len(accounts) == 1, f"MSAL made an account from client_info ({len(accounts)})")
    if accounts:
        silent = app.acquire_token_silent(PC_USER_SCOPE, account=accounts[0], force_refresh=True)
        check(bool(silent and silent.get("access_token")),
              f"MSAL redeemed the refresh token it was given ({silent and silent.get('error')})")

    # 3. The upload flow with MSAL's app+user token.
    upload_flow(user_token, "msal-flow")

    # 4. The v1 endpoint on login.windows.net with resource=, then the legacy generatetoken.
    r = requests.post(f"https://login.windows.net/{PARTNER_TENANT}/oauth2/token", timeout=10, data={
        "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET,
        "resource": PC})
    v1 = r.json() if r.ok else {}
    check(r.status_code == 200 and isinstance(v1.get("expires_on"), str)
          and v1.get("resource") == PC, f"v1 token endpoint: {r.status_code} {sorted(v1)}")
    r = requests.post(f"{PC}/generatetoken", timeout=10,
                      headers={"Authorization": f"Bearer {v1.get('access_token', '')}"},
                      data={"grant_type": "jwt_token"})
    legacy = r.json() if r.ok else {}
    check(r.status_code == 200 and "access_token" in legacy,
          f"generatetoken: {r.status_code} {r.text[:200]}")

    if AUTH != "jwt":
        return

    # 5. --auth jwt: only the emulator's unexpired Partner Center tokens.
    r = pc("GET", f"/v1/customers/{CUSTOMER}/deviceBatches", app_token)
    check(r.status_code == 200, f"jwt: an app-only token lists batches ({r.status_code})")
    r = pc("POST", f"/v1/customers/{CUSTOMER}/deviceBatches", app_token,
           json={"batchId": "app-only", "devices": [{"productKey": "APP-ONLY-1"}]})
    check(r.status_code == 403, f"jwt: an app-only token may not create a batch ({r.status_code})")
    r = pc("GET", f"/v1/customers/{CUSTOMER}/deviceBatches", legacy.get("access_token", ""))
    check(r.status_code == 200, f"jwt: the generatetoken token is accepted ({r.status_code})")
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps({**claims(user_token)}).encode()).rstrip(b"=")
    for name, token in (("foreign (alg none)", f"{header.decode()}.{body.decode()}."),
                        ("tampered signature", user_token[:-4] + ("AAAA" if user_token[-4:] != "AAAA" else "BBBB")),
                        ("not a JWT", "opaque-token")):
        r = pc("GET", f"/v1/customers/{CUSTOMER}/deviceBatches", token)
        check(r.status_code == 401, f"jwt: a {name} token is 401 ({r.status_code})")
    graph = app_for(PARTNER_TENANT).acquire_token_for_client(
        scopes=["https://graph.microsoft.com/.default"]).get("access_token", "")
    r = pc("GET", f"/v1/customers/{CUSTOMER}/deviceBatches", graph)
    check(r.status_code == 401, f"jwt: a Graph token (wrong audience) is 401 ({r.status_code})")

    # Another partner tenant sees none of the first one's data.
    other = app_for(OTHER_TENANT).acquire_token_by_refresh_token(
        "other-partner-refresh-token", scopes=PC_USER_SCOPE).get("access_token", "")
    r = pc("GET", f"/v1/customers/{CUSTOMER}/deviceBatches", other)
    items = r.json().get("items", []) if r.status_code == 200 else None
    check(items == [], f"jwt: another partner tenant sees no batches ({r.status_code}, {items})")
    upload_flow(other, "msal-flow")  # the same batch id and devices: no collision

    # Expiry on the emulator clock: past exp, the same token is 401.
    status, _ = control("POST", "/_emulator/clock/advance", {"seconds": 2 * 3600})
    check(status == 200, "clock advanced by 2 h")
    r = pc("GET", f"/v1/customers/{CUSTOMER}/deviceBatches", user_token)
    check(r.status_code == 401, f"jwt: an expired token is 401 ({r.status_code})")
    fresh = app.acquire_token_by_refresh_token("cipp-settings-refresh-token", scopes=PC_USER_SCOPE)
    r = pc("GET", f"/v1/customers/{CUSTOMER}/deviceBatches", fresh.get("access_token", ""))
    check(r.status_code == 200, f"jwt: a fresh token after expiry works ({r.status_code})")


if __name__ == "__main__":
    main()
    passed_line = "msal flow: {} failed".format(len(failures))
    print(passed_line)
    sys.exit(1 if failures else 0)
