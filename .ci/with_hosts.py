#!/usr/bin/env python3
"""Runs a Python client script with Partner Center's and Entra ID's host names sent to the
emulator's HTTPS port, in that process only (a patched `socket.getaddrinfo`): what a compose
network alias or `extra_hosts` does for a container, without touching the machine's resolver.

  PCE_TLS_PORT=8443 python3 .ci/with_hosts.py docker/real-hosts-client.py
"""

import os
import runpy
import socket
import sys

HOSTS = {"login.microsoftonline.com", "login.windows.net", "api.partnercenter.microsoft.com"}
PORT = int(os.environ["PCE_TLS_PORT"])
_real = socket.getaddrinfo


def _getaddrinfo(host, port, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if name in HOSTS:
        return _real("127.0.0.1", PORT, *args, **kwargs)
    return _real(host, port, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
