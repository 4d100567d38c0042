#!/usr/bin/env python3
"""Checks that the container files agree with each other and with Cargo.toml.

Nothing here builds or runs an image: docker/check-image.sh does that with a real engine. hadolint
lints the Dockerfile and check-jsonschema validates the compose file against the Compose
Specification; this script checks, in a second, what neither can see: the wiring between
docker/Dockerfile, docker/docker-compose.yml, .dockerignore and Cargo.toml (every input of the
crate's build copied into the build stage, ports, health check, state volume, labels, the example
client).

Usage: check_docker.py [REPO_ROOT]; exits 1 listing every broken link.
"""

import fnmatch
import re
import shlex
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
DOCKER = ROOT / "docker"
BINARY = "partner-center-emulator"
# The binary's own health-check timeout (src/healthcheck.rs); Docker's must be longer.
BINARY_TIMEOUT_S = 2.0

failures = []


def check(ok, what):
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


def dockerfile_instructions(text):
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    pairs = []
    for line in logical:
        word, _, rest = line.partition(" ")
        pairs.append((word.upper(), rest.strip()))
    return pairs


def duration_s(value):
    """Seconds in a Compose duration such as `3s`, `1m30s` or `500ms`."""
    total = 0.0
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)", str(value)):
        total += float(amount) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def port_of(address):
    return int(address.rsplit(":", 1)[1].split("/")[0])


cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]
instructions = dockerfile_instructions((DOCKER / "Dockerfile").read_text())
stages = [i for i, (word, _) in enumerate(instructions) if word == "FROM"]
runtime = instructions[stages[-1] :]


def runtime_args(word):
    return [rest for w, rest in runtime if w == word]


# --- Dockerfile -----------------------------------------------------------------------------
check(len(stages) >= 2, "Dockerfile is multi-stage")
check(
    any(w == "RUN" and "cargo build --locked --release" in rest for w, rest in instructions),
    "Dockerfile builds with cargo build --locked --release",
)
copies = [rest for w, rest in instructions if w == "COPY"]
check(
    copies[:1] == ["Cargo.toml Cargo.lock ./"],
    "Dockerfile copies only the manifests before building dependencies (layer caching)",
)

# Every file the crate's build reads must reach the build stage (the image once failed to build
# because build.rs and openapi/ did not): the build script, what it reads, what the sources embed
# with include_str!/include_bytes!, and the sources themselves. Paths are taken at the top level of
# the repository, as the Dockerfile copies them.
build_stage = instructions[stages[0] : stages[1]] if len(stages) >= 2 else instructions
build_copies = [rest.split() for w, rest in build_stage if w == "COPY" and not rest.startswith("--from=")]
copied = {Path(part).as_posix().rstrip("/") for words in build_copies for part in words[:-1] if not part.startswith("--")}
inputs = {"src"}
if (ROOT / "build.rs").exists():
    inputs.add("build.rs")
    for literal in re.findall(r'"([^"{}]+)"', (ROOT / "build.rs").read_text()):
        if "/" in literal and (ROOT / literal).exists():
            inputs.add(Path(literal).parts[0])
for source in (ROOT / "src").rglob("*.rs"):
    for literal in re.findall(r'include_(?:str|bytes)!\(\s*"([^"]+)"', source.read_text()):
        target = (source.parent / literal).resolve()
        if target.is_relative_to(ROOT):
            inputs.add(target.relative_to(ROOT).parts[0])
for entry in sorted(inputs):
    check(entry in copied, f"the build stage copies {entry} (the crate's build reads it)")
runs = [rest for w, rest in build_stage if w == "RUN"]
if (ROOT / "build.rs").exists():
    check(
        bool(runs) and "> build.rs" in runs[0],
        "the dependency layer builds against a stub build.rs (the real one comes later, with what it reads)",
    )
    check(
        bool(runs) and re.search(r"touch [^&]*\bbuild\.rs\b", runs[-1]) is not None,
        "the final build touches build.rs, so that cargo reruns the real build script, not the stub",
    )

users = runtime_args("USER")
user = users[-1] if users else ""
check(user not in ("", "root", "0") and not user.startswith(("root:", "0:")), f"runtime runs as non-root ({user!r})")
env = {}
for rest in runtime_args("ENV"):
    for token in shlex.split(rest):
        key, _, value = token.partition("=")
        env[key] = value
bind_port = port_of(env.get("PCE_BIND", "127.0.0.1:0"))
check(env.get("PCE_BIND", "").startswith("0.0.0.0:"), "image sets PCE_BIND to listen on every interface")
tls_port = port_of(env.get("PCE_TLS_BIND", "127.0.0.1:0"))
check(env.get("PCE_TLS_BIND", "").startswith("0.0.0.0:"), "image sets PCE_TLS_BIND to listen on every interface")
check(
    runtime_args("EXPOSE") == [f"{bind_port} {tls_port}"],
    f"EXPOSE matches the PCE_BIND and PCE_TLS_BIND ports {bind_port} {tls_port}",
)
check(env.get("PCE_TLS_DIR", "").startswith("/data/"), "PCE_TLS_DIR (the CA) lives on the /data volume")
check(runtime_args("STOPSIGNAL") == ["SIGTERM"], "STOPSIGNAL SIGTERM")
healthchecks = runtime_args("HEALTHCHECK")
hc = healthchecks[-1] if healthchecks else ""
cmd = hc.split(" CMD ", 1)[1].strip() if " CMD " in f" {hc}" else ""
check(
    cmd == f'["{BINARY}", "healthcheck"]',
    "HEALTHCHECK runs the binary's healthcheck in exec form (no shell in the image)",
)
timeout = re.search(r"--timeout=(\S+)", hc)
check(
    timeout is not None and duration_s(timeout.group(1)) > BINARY_TIMEOUT_S,
    f"HEALTHCHECK timeout exceeds the binary's own {BINARY_TIMEOUT_S:g} s",
)
check(
    runtime_args("ENTRYPOINT") == [f'["{BINARY}"]'],
    "ENTRYPOINT is the binary, so flags can follow the image name",
)
check(
    any(f"/usr/local/bin/{BINARY}" in c for c in copies),
    f"binary installed on PATH as /usr/local/bin/{BINARY}",
)
args = {}
for w, rest in instructions:
    if w == "ARG" and "=" in rest:
        key, _, value = rest.partition("=")
        args[key] = value
labels = {}
for rest in runtime_args("LABEL"):
    for token in shlex.split(rest):
        key, _, value = token.partition("=")
        labels[key] = value.replace("${VERSION}", args.get("VERSION", ""))
check(labels.get("org.opencontainers.image.version") == cargo["version"], f"OCI version label is {cargo['version']}")
check(labels.get("org.opencontainers.image.licenses") == cargo["license"], f"OCI licence label is {cargo['license']}")
check(labels.get("org.opencontainers.image.source") == cargo["repository"], "OCI source label is Cargo.toml's repository")
state_dir_copy = [c for c in copies if c.startswith("--from=") and c.endswith(" /data /data")]
uid = user.split(":")[0]
check(
    bool(state_dir_copy) and f"--chown={uid}:" in state_dir_copy[0],
    f"/data exists in the image and belongs to the runtime user {uid}",
)

# --- .dockerignore --------------------------------------------------------------------------
ignored = {
    line.strip().rstrip("/")
    for line in (ROOT / ".dockerignore").read_text().splitlines()
    if line.strip() and not line.startswith("#")
}
check(".git" in ignored, ".dockerignore keeps .git/ out of the build context")
# fuzz/target/ and bench/baseline/target/ grow to 100 MB after a fuzz run: every target/, not
# only the top-level one.
check("**/target" in ignored, ".dockerignore keeps every target/ (**/target/) out of the build context")
for entry in sorted(inputs | {"Cargo.toml", "Cargo.lock"}):
    excluded = [p for p in ignored if not p.startswith("!") and fnmatch.fnmatch(entry, p.removeprefix("**/"))]
    check(not excluded, f".dockerignore leaves {entry} in the build context")

# --- docker-compose.yml ---------------------------------------------------------------------
compose = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
services = compose.get("services", {})
emulator = services.get("emulator", {})
client = services.get("example-client", {})
check(bool(emulator) and bool(client), "compose has the emulator and example-client services")
build = emulator.get("build", {})
context = (DOCKER / build.get("context", ".")).resolve()
check(context == ROOT, "emulator is built from the repository root")
check((context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKER / "Dockerfile", "emulator builds docker/Dockerfile")
published = [str(p) for p in emulator.get("ports", [])]
check(any(p.endswith(f":{bind_port}") for p in published), f"emulator publishes container port {bind_port}")
health = emulator.get("healthcheck", {})
check(health.get("test") == ["CMD", BINARY, "healthcheck"], "emulator healthcheck runs the binary (exec form)")
check(duration_s(health.get("timeout", "30s")) > BINARY_TIMEOUT_S, f"compose healthcheck timeout exceeds {BINARY_TIMEOUT_S:g} s")
check("interval" in health and "retries" in health, "compose healthcheck sets interval and retries")
state_file = emulator.get("environment", {}).get("PCE_STATE_FILE", "")
mounts = {}
for volume in emulator.get("volumes", []):
    source, target = str(volume).split(":")[:2]
    mounts[target] = source
state_dir = str(Path(state_file).parent) if state_file else ""
state_volume = mounts.get(state_dir)
check(state_dir == "/data", f"PCE_STATE_FILE ({state_file!r}) lives in the image's /data")
check(
    state_volume is not None and state_volume in (compose.get("volumes") or {}),
    f"{state_dir or 'the state directory'} is a named volume declared at the top level",
)
depends = client.get("depends_on", {})
check(
    isinstance(depends, dict) and depends.get("emulator", {}).get("condition") == "service_healthy",
    "example-client waits for the emulator to be service_healthy",
)
check(client.get("restart") == "no", "example-client is a one-shot (restart: \"no\")")
client_url = client.get("environment", {}).get("PCE_URL", "")
check(client_url == f"http://emulator:{bind_port}", f"example-client's PCE_URL is http://emulator:{bind_port}")
client_mounts = {}
for volume in client.get("volumes", []):
    source, target = str(volume).split(":")[:2]
    client_mounts[target] = source
command = client.get("command", [])
script = next((c for c in command if c in client_mounts), None)
check(
    script is not None and (DOCKER / client_mounts[script]).resolve() == DOCKER / "example-client.py",
    "example-client runs docker/example-client.py, mounted read-only",
)

# The client that uses the real host names: the emulator answers as them inside the network, on
# 443, and the client trusts the CA from the shared volume (read-only, as a non-root user).
REAL_HOSTS = {"api.partnercenter.microsoft.com", "login.microsoftonline.com", "login.windows.net"}
real = services.get("real-hosts-client", {})
check(bool(real), "compose has the real-hosts-client service")
aliases = set()
for network in (emulator.get("networks") or {}).values():
    aliases |= set((network or {}).get("aliases") or [])
check(REAL_HOSTS <= aliases, f"the emulator's network aliases include {sorted(REAL_HOSTS)}")
emulator_env = emulator.get("environment", {})
check(emulator_env.get("PCE_TLS_BIND") == "0.0.0.0:443", "in compose the emulator serves HTTPS on 443, where clients go")
tls_dir = emulator_env.get("PCE_TLS_DIR", env.get("PCE_TLS_DIR", ""))
real_mounts = {}
for volume in real.get("volumes", []):
    parts = str(volume).split(":")
    real_mounts[parts[1]] = (parts[0], parts[2:] == ["ro"])
data_mount = real_mounts.get("/data")
check(
    data_mount is not None and data_mount[0] == state_volume and data_mount[1],
    "real-hosts-client mounts the emulator's volume read-only at /data",
)
check(
    real.get("environment", {}).get("SSL_CERT_FILE") == f"{tls_dir}/ca.pem",
    f"real-hosts-client trusts {tls_dir}/ca.pem (SSL_CERT_FILE)",
)
check(str(real.get("user", "")).split(":")[0] not in ("", "0", "root"), "real-hosts-client runs as non-root (cannot read the CA key)")
check(real.get("restart") == "no", "real-hosts-client is a one-shot (restart: \"no\")")
check(
    real.get("depends_on", {}).get("emulator", {}).get("condition") == "service_healthy",
    "real-hosts-client waits for the emulator to be service_healthy",
)

if failures:
    print(f"\n{len(failures)} container check(s) failed", file=sys.stderr)
    sys.exit(1)
print("container files agree")
