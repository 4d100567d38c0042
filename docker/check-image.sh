#!/usr/bin/env bash
# Builds the unchanged docker/Dockerfile with a real Docker engine and checks what the image
# promises: healthy within 15 s, the HEALTHCHECK status, the `healthcheck` subcommand's exit
# codes, the process running as uid 65532, state on a named volume surviving stop/start, a
# graceful `docker stop` (exit 0 within 5 s), and every compose file's one-shot client services
# (docker/example-client.py) exiting 0. Prints the build time and the image's size.
#
#   sudo bash docker/check-image.sh                     # every docker/*compose*.yml
#   sudo bash docker/check-image.sh docker/docker-compose.yml docker/compose.other.yml
#
# The engine is private to this script, so it needs root and util-linux (unshare, nsenter,
# pivot_root), and it installs what is missing with apt-get (Debian): Debian trixie's docker.io,
# docker-cli and docker-compose in a `debootstrap --variant=minbase trixie` root, with dockerd
# started in a private mount namespace pivot_root'ed into that root, on host networking only
# (--bridge=none --iptables=false ...): the machine's network configuration is never changed.
# Everything it mounts lives in that namespace and goes with it; every exit path stops the
# engine and removes what it started (containers, volumes, compose projects).
#
# Base images: where a registry answers, the real ones are pulled. Where none does, stand-ins
# are fabricated under the exact names the Dockerfile and the compose files use, and the script
# says so: rust:<v>-slim-trixie (the trixie root + gcc, libc6-dev, ca-certificates and this
# machine's own Rust <v> toolchain, with the machine's extra CA certificates trusted),
# gcr.io/distroless/cc-debian13:nonroot (distroless cc's Debian packages unpacked, nonroot
# 65532, no shell) and python:<v>-alpine (trixie's python3).
#
# The roots, the stand-in images and the engine's data (so the build's layer cache too) are
# cached under $PCE_DOCKER_CACHE (default /var/cache/pce-docker), each keyed by the recipe that
# made it: a changed recipe is rebuilt. Logs go to target/check-image/.
#
# Environment:
#   PCE_DOCKER_CACHE   cache directory                  (default /var/cache/pce-docker)
#   PCE_CHECK_BASES    auto | pull | fabricate          (default auto: pull, else fabricate)
#   PCE_DEBIAN_MIRROR  Debian mirror for debootstrap    (default: the one apt is configured with)
#   PCE_CHECK_NO_CACHE 1: build the image with --no-cache (a cold build, for timing it)
set -euo pipefail

# --- The engine's own entry point ---------------------------------------------------------------
# Run as `check-image.sh __engine ROOT DATA REPO` inside `unshare -m --propagation private`:
# mounts what dockerd needs into ROOT, pivot_roots into it (a plain chroot breaks `docker import`
# and `docker exec`) and becomes dockerd, so its pid is the one the caller started.
engine_main() {
    local root=$1 data=$2 repo=$3
    mount --bind "$root" "$root"
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs -o mode=0755 tmpfs "$root/run"
    mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
    mkdir -p "$root/var/lib/docker" "$root/repo" "$root/.oldroot"
    mount --bind "$data" "$root/var/lib/docker"
    mount --bind "$repo" "$root/repo"
    cd "$root"
    pivot_root . .oldroot
    exec /usr/sbin/chroot . /bin/sh -c 'umount -l /.oldroot && rmdir /.oldroot && exec dockerd \
        --data-root /var/lib/docker --exec-root /run/docker --pidfile /run/docker.pid \
        --host unix:///run/docker.sock \
        --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
        --userland-proxy=false'
}
if [ "${1:-}" = __engine ]; then
    shift
    engine_main "$@"
fi

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${PCE_DOCKER_CACHE:-/var/cache/pce-docker}
BASES=${PCE_CHECK_BASES:-auto}
SUITE=trixie
LOGS=$REPO/target/check-image
# The image's tag, as the README and the compose file name it.
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n 1)
IMAGE=partner-center-emulator:$VERSION
STARTED=$(date +%s)

say() { printf '== [%4ss] %s\n' "$(($(date +%s) - STARTED))" "$*"; }
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
case $BASES in auto | pull | fabricate) ;; *) fail "PCE_CHECK_BASES must be auto, pull or fabricate" ;; esac
[ "$(id -u)" = 0 ] || fail "needs root: it starts a private Docker engine (sudo bash $0)"

mkdir -p "$CACHE"
# One check at a time per cache: the roots, the stand-ins and the engine's data are shared.
exec 9>"$CACHE/lock"
flock -w 3600 9 || fail "another check holds $CACHE/lock"
rm -rf "$LOGS"
mkdir -p "$LOGS"

# --- Cleanup, on every exit path ----------------------------------------------------------------
DPID=""         # dockerd
DNS=""          # its mount namespace
CONTAINER=""    # the single-container checks' container and volume
VOLUME=""
PROJECTS=()     # compose projects started (file|project)
LOGGED_FAILURE=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    set +e
    # A signal may arrive inside a command whose output goes to a log: back to the terminal.
    exec 1>&3 2>&4
    if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
        if [ "$status" != 0 ] && [ -z "$LOGGED_FAILURE" ]; then
            echo "== the emulator's container logs" >&2
            [ -n "$CONTAINER" ] || [ ${#PROJECTS[@]} -gt 0 ] || echo "(no container was started)" >&2
            if [ -n "$CONTAINER" ]; then
                echo "-- $CONTAINER" >&2
                d logs "$CONTAINER" >&2 2>&1
            fi
            for entry in "${PROJECTS[@]}"; do
                echo "-- compose project ${entry#*|}" >&2
                d compose --ansi never -p "${entry#*|}" -f "/repo/${entry%%|*}" -f "/repo/${LOGS#"$REPO"/}/override-${entry#*|}.yml" logs --no-color 2>&1 | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' >&2
            done
        fi
        [ -n "$CONTAINER" ] && d rm -f "$CONTAINER" >/dev/null 2>&1
        [ -n "$VOLUME" ] && d volume rm -f "$VOLUME" >/dev/null 2>&1
        for entry in "${PROJECTS[@]}"; do
            d compose --ansi never -p "${entry#*|}" -f "/repo/${entry%%|*}" -f "/repo/${LOGS#"$REPO"/}/override-${entry#*|}.yml" \
                down -v --remove-orphans --timeout 5 >/dev/null 2>&1
        done
        # Stopped containers (a killed build's) and dangling images from earlier builds; the
        # current image's layers and the tagged build stage (the build cache) stay.
        d container prune -f >/dev/null 2>&1
        d image prune -f >/dev/null 2>&1
    fi
    stop_engine
    rm -rf "$CACHE"/roots/*.tmp "$CACHE"/roots/*.tmp.work
    if [ "$status" = 0 ]; then
        say "done: every check passed"
    else
        echo "docker/check-image.sh FAILED (exit $status); logs in ${LOGS#"$REPO"/}/" >&2
    fi
    exit "$status"
}
exec 3>&1 4>&2
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stop_engine() {
    [ -n "$DPID" ] || return 0
    if kill -0 "$DPID" 2>/dev/null; then
        kill -TERM "$DPID" 2>/dev/null
        for _ in $(seq 150); do
            kill -0 "$DPID" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$DPID" 2>/dev/null
        wait "$DPID" 2>/dev/null
    fi
    # Whatever the engine left in its namespace (containerd, shims): killed by pid. The mounts
    # (proc, sys, dev, overlays, the bind mounts) go with the namespace's last process.
    if [ -n "$DNS" ]; then
        local p
        for p in /proc/[0-9]*; do
            [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$DNS" ] && kill -KILL "${p#/proc/}" 2>/dev/null
        done
    fi
    DPID=""
    rm -f "$CACHE/dockerd.pid"
    if grep -qF " $CACHE/" /proc/self/mountinfo; then
        echo "warning: something is still mounted under $CACHE:" >&2
        grep -F " $CACHE/" /proc/self/mountinfo >&2
    fi
}

# The engine's client (the trixie root's docker and docker compose), in the engine's namespace,
# in the repository (bind-mounted at /repo).
d() { nsenter -t "$DPID" -m -r /usr/bin/env -C /repo HOME=/tmp DOCKER_BUILDKIT=0 docker "$@"; }

# A command in ROOT, in a private mount namespace of its own (its mounts go with it).
in_root() {
    local root=$1
    shift
    unshare -m --propagation private /bin/bash -c '
        set -e
        root=$1; shift
        mount -t proc proc "$root/proc"
        mount --rbind /dev "$root/dev"
        mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
        [ -f /etc/resolv.conf ] && cp -L /etc/resolv.conf "$root/etc/resolv.conf"
        exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
            DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"
    ' in_root "$root" "$@"
}

# Runs a long command in the background and waits for it, so that INT and TERM are handled at
# once (bash runs traps only between foreground commands).
interruptible() {
    "$@" &
    wait $!
}

key_of() { printf '%s\n' "$@" | sha256sum | cut -c1-16; }

# --- Host tools ---------------------------------------------------------------------------------
APT_UPDATED=""
apt_update_once() {
    [ -n "$APT_UPDATED" ] && return 0
    apt-get update -qq
    APT_UPDATED=1
}
need_host_tools() {
    local missing=()
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v unshare >/dev/null && command -v nsenter >/dev/null && command -v pivot_root >/dev/null \
        || missing+=(util-linux)
    command -v curl >/dev/null || missing+=(curl)
    [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]} (apt-get)"
        apt_update_once
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    command -v python3 >/dev/null || fail "python3 is needed (free ports, the compose override, the example client)"
}

# The Debian archive apt is configured with (sources.list or deb822 .sources alike), so that no
# mirror is written down here.
debian_mirror() {
    [ -n "${PCE_DEBIAN_MIRROR:-}" ] && { echo "$PCE_DEBIAN_MIRROR"; return; }
    local mirror
    mirror=$(apt-cache policy 2>/dev/null | awk '
        /^ *[0-9]+ (https?|file):/ { url = $2; next }
        /release / && /o=Debian,/ && /l=Debian,/ && url != "" { print url; exit }')
    if [ -z "$mirror" ]; then
        apt_update_once
        mirror=$(apt-cache policy 2>/dev/null | awk '
            /^ *[0-9]+ (https?|file):/ { url = $2; next }
            /release / && /o=Debian,/ && /l=Debian,/ && url != "" { print url; exit }')
    fi
    [ -n "$mirror" ] || fail "no Debian archive in the apt configuration; set PCE_DEBIAN_MIRROR"
    echo "$mirror"
}

# --- Roots, each cached under $CACHE/roots/NAME-KEY ---------------------------------------------
# cached_root NAME KEY BUILDER: prints the root's path, building it with `BUILDER DIR` if absent.
cached_root() {
    local name=$1 key=$2 builder=$3 dir="$CACHE/roots/$1-$2"
    if [ ! -f "$dir/.pce-done" ]; then
        local old
        for old in "$CACHE/roots/$name"-*; do
            [ -e "$old" ] && [ "$old" != "$dir" ] && rm -rf "$old"
        done
        rm -rf "$dir.tmp"
        mkdir -p "$CACHE/roots"
        local t0=$SECONDS
        "$builder" "$dir.tmp" >"$LOGS/root-$name.log" 2>&1 || {
            tail -n 40 "$LOGS/root-$name.log" >&2
            fail "building the $name root failed (${LOGS#"$REPO"/}/root-$name.log)"
        }
        touch "$dir.tmp/.pce-done"
        mv "$dir.tmp" "$dir"
        echo "   built the $name root in $((SECONDS - t0)) s" >&2
    fi
    echo "$dir"
}

build_base_root() {
    debootstrap --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
        "$SUITE" "$1" "$MIRROR"
    # debootstrap mounts /proc and /sys in the target: in its own namespace, so nothing stays.
}
base_root() {
    BASE_KEY=$(key_of "$(declare -f build_base_root)" "$SUITE" "$MIRROR")
    BASE_ROOT=$(cached_root base "$BASE_KEY" unshare_debootstrap)
}
unshare_debootstrap() {
    unshare -m --propagation private bash -c "$(declare -f build_base_root); SUITE=$SUITE MIRROR=$MIRROR build_base_root $1"
}

# derive DIR PACKAGES...: a copy of the base root with PACKAGES installed.
derive() {
    local dir=$1
    shift
    cp -a "$BASE_ROOT" "$dir"
    rm -f "$dir/.pce-done"
    in_root "$dir" apt-get update -qq
    in_root "$dir" apt-get install -y -qq --no-install-recommends "$@"
    in_root "$dir" apt-get clean
    rm -rf "$dir"/var/lib/apt/lists/*
}

build_engine_root() { derive "$1" docker.io docker-cli docker-compose ca-certificates; }

# rust:<v>-slim-trixie: what the official image has where the build needs it.
build_rust_root() {
    local dir=$1
    derive "$dir" gcc libc6-dev ca-certificates
    # The machine's own extra CA certificates (a TLS-inspecting egress, say): cargo must trust
    # them to fetch crates.
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
        in_root "$dir" update-ca-certificates
    fi
    # The toolchain, as rustup lays it out in the official image (minimal profile: no docs).
    local tc="$dir/usr/local/rustup/toolchains/$RUST_FULL-x86_64-unknown-linux-gnu"
    mkdir -p "$tc" "$dir/usr/local/cargo/bin"
    local part
    for part in bin lib libexec etc; do
        [ -e "$RUST_TOOLCHAIN/$part" ] && cp -a "$RUST_TOOLCHAIN/$part" "$tc/"
    done
    printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\n' \
        "$RUST_FULL-x86_64-unknown-linux-gnu" >"$dir/usr/local/rustup/settings.toml"
    local tool
    if [ -n "$RUSTUP_BIN" ]; then
        cp "$RUSTUP_BIN" "$dir/usr/local/cargo/bin/rustup"
        for tool in cargo rustc rustdoc rust-gdb rust-gdbgui rust-lldb; do
            ln -s rustup "$dir/usr/local/cargo/bin/$tool"
        done
    else
        for tool in cargo rustc rustdoc; do
            ln -s "../../rustup/toolchains/$RUST_FULL-x86_64-unknown-linux-gnu/bin/$tool" "$dir/usr/local/cargo/bin/$tool"
        done
    fi
    chmod -R a+w "$dir/usr/local/cargo" "$dir/usr/local/rustup"
}

# gcr.io/distroless/cc-debian13: distroless cc's package set unpacked (no dpkg, no shell).
DISTROLESS_PACKAGES="base-files netbase tzdata libc6 libgcc-s1 libgomp1 libstdc++6 libssl3t64"
build_distroless_root() {
    local dir=$1 work=$1.work
    derive "$work" ca-certificates
    mkdir -p "$work/debs"
    in_root "$work" sh -c "cd /debs && apt-get update -qq && apt-get download $DISTROLESS_PACKAGES"
    mkdir -p "$work/out"
    in_root "$work" sh -c 'for deb in /debs/*.deb; do dpkg-deb -x "$deb" /out; done'
    mv "$work/out" "$dir"
    mkdir -p "$dir/etc/ssl/certs"
    cp "$work/etc/ssl/certs/ca-certificates.crt" "$dir/etc/ssl/certs/"
    rm -rf "$work"
    local link
    for link in bin lib lib64 sbin; do
        [ -e "$dir/$link" ] || [ ! -d "$dir/usr/$link" ] || ln -s "usr/$link" "$dir/$link"
    done
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$dir/etc/passwd"
    printf 'root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n' >"$dir/etc/group"
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$dir/etc/nsswitch.conf"
    mkdir -p "$dir/tmp" "$dir/root" "$dir/home/nonroot"
    chmod 1777 "$dir/tmp"
    chmod 700 "$dir/root"
    chown 65532:65532 "$dir/home/nonroot"
    rm -rf "$dir/usr/share/doc" "$dir/usr/share/man" "$dir/usr/share/lintian"
    [ ! -e "$dir/bin/sh" ] || fail "the distroless stand-in has a shell"
}

build_python_root() {
    derive "$1" python3 ca-certificates
    ln -sf python3 "$1/usr/bin/python"
}

# --- Base images --------------------------------------------------------------------------------
# The images to provide: the Dockerfile's FROM lines (its ARG defaults substituted) and the
# compose files' services that are not built, but for the emulator's own image, which this
# script builds.
base_images() {
    local rust_version
    rust_version=$(sed -n 's/^ARG RUST_VERSION=//p' "$REPO/docker/Dockerfile")
    sed -n 's/^FROM \([^ ]*\).*/\1/p' "$REPO/docker/Dockerfile" | sed "s/\${RUST_VERSION}/$rust_version/"
    local file
    for file in "${COMPOSE_FILES[@]}"; do
        d compose -f "/repo/$file" config --format json | python3 -c '
import json, sys
for service in (json.load(sys.stdin).get("services") or {}).values():
    if "build" not in service and service.get("image"):
        print(service["image"])' | { grep -vx "${IMAGE%%:*}\(:.*\)\?" || true; }
    done
}

# fabricate NAME: imports a stand-in for NAME, unless the one with the current recipe is there.
fabricate() {
    local name=$1 kind root changes=() key
    case $name in
        rust:*-slim-"$SUITE")
            kind=rust
            RUST_VERSION=${name#rust:}
            RUST_VERSION=${RUST_VERSION%-slim-"$SUITE"}
            find_toolchain "$RUST_VERSION"
            key=$(key_of "$(declare -f build_rust_root derive in_root)" "$BASE_KEY" "$RUST_FULL" \
                "$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null | sha256sum)")
            root=$(cached_root "rust-$RUST_FULL" "$key" build_rust_root)
            changes=(--change "ENV RUSTUP_HOME=/usr/local/rustup"
                --change "ENV CARGO_HOME=/usr/local/cargo"
                --change "ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                --change "ENV RUST_VERSION=$RUST_FULL"
                --change 'CMD ["bash"]')
            ;;
        gcr.io/distroless/cc-debian13:nonroot)
            kind=distroless
            key=$(key_of "$(declare -f build_distroless_root derive in_root)" "$BASE_KEY" "$DISTROLESS_PACKAGES")
            root=$(cached_root distroless "$key" build_distroless_root)
            changes=(--change "USER 65532:65532" --change "WORKDIR /home/nonroot"
                --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                --change "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")
            ;;
        python:*)
            kind=python
            key=$(key_of "$(declare -f build_python_root derive in_root)" "$BASE_KEY")
            root=$(cached_root python "$key" build_python_root)
            changes=(--change 'CMD ["python3"]'
                --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            ;;
        *) fail "no registry answers and there is no stand-in recipe for $name" ;;
    esac
    local stamp
    stamp="$CACHE/images/$(echo "$name" | tr '/:' '__')"
    if [ "$(cat "$stamp" 2>/dev/null)" = "fabricated $key" ] && d image inspect "$name" >/dev/null 2>&1; then
        echo "   $name: stand-in ($kind) already imported"
        return
    fi
    local t0=$SECONDS
    tar -C "$root" --numeric-owner --exclude=./.pce-done -cf - . | d import "${changes[@]}" - "$name" >/dev/null
    mkdir -p "$CACHE/images"
    echo "fabricated $key" >"$stamp"
    echo "   $name: stand-in ($kind) imported in $((SECONDS - t0)) s"
}

# The machine's toolchain for Rust $1 (1.95 -> 1.95.x): sets RUST_TOOLCHAIN, RUST_FULL, RUSTUP_BIN.
find_toolchain() {
    local want=$1 dir version
    RUST_TOOLCHAIN=""
    for dir in "${RUSTUP_HOME:-$HOME/.rustup}"/toolchains/*/ /usr/local/rustup/toolchains/*/; do
        [ -x "$dir/bin/rustc" ] || continue
        version=$("$dir/bin/rustc" --version | awk '{print $2}')
        case $version in
            "$want" | "$want".*)
                RUST_TOOLCHAIN=$(readlink -f "$dir")
                RUST_FULL=$version
                break
                ;;
        esac
    done
    [ -n "$RUST_TOOLCHAIN" ] || fail "no Rust $want toolchain on this machine to fabricate rust:$want-slim-$SUITE from"
    RUSTUP_BIN=$(command -v rustup || true)
    [ -z "$RUSTUP_BIN" ] || RUSTUP_BIN=$(readlink -f "$RUSTUP_BIN")
}

provide_bases() {
    local name stamp fabricated_any="" unreachable="" code
    # A registry that answers "no" fails a pull at once; one that never answers is given 2 min
    # (10 with PCE_CHECK_BASES=pull), and then no further pull is tried.
    local limit=120
    [ "$BASES" = pull ] && limit=600
    while read -r name; do
        [ -n "$name" ] || continue
        stamp="$CACHE/images/$(echo "$name" | tr '/:' '__')"
        code=1
        echo "(not tried)" >"$LOGS/pull.log"
        if [ "$BASES" != fabricate ] && [ -z "$unreachable" ]; then
            timeout "$limit" nsenter -t "$DPID" -m -r env HOME=/tmp docker pull -q "$name" >"$LOGS/pull.log" 2>&1 \
                && code=0 || code=$?
            [ "$code" = 124 ] && { unreachable=1; echo "timed out after $limit s" >>"$LOGS/pull.log"; }
        fi
        if [ "$code" = 0 ]; then
            mkdir -p "$CACHE/images"
            echo pulled >"$stamp"
            echo "   $name: pulled from its registry"
            continue
        fi
        [ "$BASES" = pull ] && { cat "$LOGS/pull.log" >&2; fail "cannot pull $name"; }
        if [ "$(cat "$stamp" 2>/dev/null)" = pulled ] && d image inspect "$name" >/dev/null 2>&1; then
            echo "   $name: no registry answers; the copy pulled earlier is used"
            continue
        fi
        [ "$BASES" = fabricate ] || echo "   $name: no registry answers ($(tail -n 1 "$LOGS/pull.log" | cut -c1-120))"
        fabricate "$name"
        fabricated_any=1
    done < <(base_images | sort -u)
    if [ -n "$fabricated_any" ]; then
        echo "   NOTE: STAND-IN base images were fabricated locally ($([ "$BASES" = fabricate ] \
            && echo PCE_CHECK_BASES=fabricate || echo 'no registry reachable')): the"
        echo "   build and the checks are real, but the image's size is measured on the stand-ins."
        BASE_NOTE="stand-in base images fabricated from Debian $SUITE packages"
    else
        BASE_NOTE="the real base images"
    fi
}

# --- Helpers for the checks ---------------------------------------------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_healthy CONTAINER LIMIT_S: waits for HEALTHCHECK status `healthy`; prints the seconds taken.
wait_healthy() {
    local container=$1 limit=$2 t0 status now
    t0=$(date +%s.%N)
    while :; do
        status=$(d inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}/{{.State.Status}}' "$container")
        now=$(date +%s.%N)
        case $status in
            healthy/running) break ;;
            */exited | */dead) fail "$container exited before it was healthy ($status)" ;;
            unhealthy/*) fail "$container is unhealthy" ;;
            /*) fail "the image defines no HEALTHCHECK" ;;
        esac
        python3 -c "import sys; sys.exit(0 if $now - $t0 < $limit else 1)" \
            || fail "$container not healthy within $limit s (status $status)"
        sleep 0.2
    done
    python3 -c "print(f'{$now - $t0:.1f}')"
}

api() { curl -fsS --max-time 10 -H 'Authorization: Bearer check-image' "$@"; }

# --- The single-container checks ----------------------------------------------------------------
check_container() {
    local port closed customer=c7f3c849-129f-4b85-a96d-4f8e88b315a3 batch=CheckImage-$$ took code
    port=$(free_port)
    closed=$(free_port)
    CONTAINER=pce-check-$$
    VOLUME=pce-check-state-$$
    say "run: $IMAGE with PCE_STATE_FILE=/data/state.json on the named volume $VOLUME (host network, port $port)"
    d volume create "$VOLUME" >/dev/null
    d run -d --name "$CONTAINER" --network host -e "PCE_BIND=0.0.0.0:$port" \
        -e "PCE_TLS_BIND=127.0.0.1:$(free_port)" \
        -e PCE_STATE_FILE=/data/state.json -e PCE_QUEUED_FOR=0s -e PCE_PROCESSING_FOR=0s \
        -v "$VOLUME:/data" "$IMAGE" >/dev/null
    took=$(wait_healthy "$CONTAINER" 15)
    echo "   ok: HEALTHCHECK status healthy after $took s (limit 15 s)"

    local out
    out=$(d exec "$CONTAINER" partner-center-emulator healthcheck 2>&1) \
        || fail "healthcheck inside the container exited $? against the running emulator: $out"
    echo "   ok: healthcheck in the container exits 0 ($out)"
    code=0
    d exec "$CONTAINER" partner-center-emulator healthcheck --url "http://127.0.0.1:$closed" 2>"$LOGS/closed.err" || code=$?
    [ "$code" = 1 ] || fail "healthcheck against a closed port exited $code, expected 1"
    echo "   ok: healthcheck against a closed port exits 1 ($(head -n 1 "$LOGS/closed.err"))"

    local pid ids
    pid=$(d inspect -f '{{.State.Pid}}' "$CONTAINER")
    ids=$(awk '/^Uid:|^Gid:/ {print $2, $3, $4, $5}' "/proc/$pid/status" | tr '\n' ' ')
    [ "$ids" = "65532 65532 65532 65532 65532 65532 65532 65532 " ] || fail "the emulator runs as uid/gid $ids, expected 65532"
    echo "   ok: the emulator (pid $pid) runs as uid 65532, gid 65532"

    api -X POST "http://127.0.0.1:$port/v1/customers/$customer/deviceBatches" -H 'Content-Type: application/json' \
        -d "{\"batchId\": \"$batch\", \"devices\": [{\"serialNumber\": \"CHK-$$\", \"hardwareHash\": \"Q2hlY2tJbWFnZQ==\"}]}" >/dev/null
    local written=""
    # An acknowledged write reaches the append-only log beside the snapshot within
    # --persist-interval; the snapshot itself is rewritten by compactions and at a graceful stop.
    for _ in $(seq 50); do
        if d cp "$CONTAINER:/data/state.json.log" - 2>/dev/null | tar -xO 2>/dev/null | grep -qF "$batch"; then
            written=1
            break
        fi
        sleep 0.2
    done
    [ -n "$written" ] || fail "/data/state.json.log does not hold batch $batch within 10 s"
    echo "   ok: /data/state.json.log (the append-only log) on the volume holds the new batch"

    local t0 t1 exit_code
    t0=$(date +%s.%N)
    d stop --time 10 "$CONTAINER" >/dev/null
    t1=$(date +%s.%N)
    took=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
    exit_code=$(d inspect -f '{{.State.ExitCode}}' "$CONTAINER")
    [ "$exit_code" = 0 ] || fail "the emulator exited $exit_code on docker stop, expected 0"
    python3 -c "import sys; sys.exit(0 if $took < 5 else 1)" || fail "docker stop took $took s (limit 5 s)"
    echo "   ok: docker stop: exit 0 after $took s (limit 5 s)"
    d cp "$CONTAINER:/data/state.json" - 2>/dev/null | tar -xO 2>/dev/null | grep -qF "$batch" \
        || fail "/data/state.json does not hold batch $batch after the graceful stop's compaction"
    echo "   ok: the graceful stop compacted the log into /data/state.json"

    d start "$CONTAINER" >/dev/null
    took=$(wait_healthy "$CONTAINER" 15)
    api "http://127.0.0.1:$port/v1/customers/$customer/deviceBatches" | grep -qF "\"$batch\"" \
        || fail "batch $batch is gone after stop/start"
    echo "   ok: restarted (healthy after $took s): batch $batch survived stop/start on the volume"
    d stop --time 10 "$CONTAINER" >/dev/null
    d rm "$CONTAINER" >/dev/null
    CONTAINER=""
    d volume rm "$VOLUME" >/dev/null
    VOLUME=""
}

# --- The compose files' clients -----------------------------------------------------------------
# Writes an override that puts every service on the host network (the engine has no bridge):
# published ports and networks are dropped, each published container port moves to a free port
# of this machine (PCE_BIND of the service that publishes the image's port, and every environment
# value naming the port, such as a client's URL), builds use the host network, and every service
# name and network alias resolves to 127.0.0.1. Prints the one-shot client services
# (restart: "no"), the ones the check runs.
#
# A further compose file (a TLS client using the real host names, say) needs nothing here: name
# it docker/compose.<what>.yml, give its client `restart: "no"`, reach the emulator by a service
# name or network alias, and keep every listening address a service has in its environment (so
# that the port move reaches it), or set PCE_CHECK_KEEP_PORTS=1 to leave the ports as written.
# Ports below 1024 (443 for real host names) are never moved, and a service listening on one runs
# as root here only. A base image no registry may serve needs a stand-in recipe in fabricate().
compose_override() {
    local file=$1 out=$2 image_port
    image_port=$(sed -n 's/^ENV PCE_BIND=.*:\([0-9]*\)$/\1/p' "$REPO/docker/Dockerfile")
    d compose -f "/repo/$file" config --format json >"$out.json"
    python3 - "$out.json" "$out" "$image_port" "${PCE_CHECK_KEEP_PORTS:-}" <<'EOF'
import json, re, socket, sys

compose = json.load(open(sys.argv[1]))
out, image_port, keep_ports = sys.argv[2], int(sys.argv[3] or 8080), sys.argv[4] == "1"
services = compose.get("services") or {}

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def env_of(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}

# Container ports the services listen on: the published ones (host networking keeps them as
# they are, so each gets a free port of this machine instead).
moved = {}
for service in services.values():
    for port in service.get("ports") or []:
        target = port.get("target") if isinstance(port, dict) else str(port).split(":")[-1].split("/")[0]
        moved.setdefault(int(target), int(target) if keep_ports else free_port())
# Well-known ports stay: a client with a real host name hard-coded (https://api.partnercenter...)
# goes to 443 and nowhere else.
moved = {old: new for old, new in moved.items() if old != new and old >= 1024}
# Network aliases (a real host name the emulator answers as, say) resolve like service names.
names = {name: [name] for name in services}
for name, service in services.items():
    for network in (service.get("networks") or {}).values():
        names[name] += (network or {}).get("aliases") or []

lines = ["# Generated by docker/check-image.sh: host networking for an engine without a bridge.", "services:"]
clients = []
for name, service in services.items():
    env = env_of(service)
    new_env = {}
    for key, value in env.items():
        changed = value
        for old, new in moved.items():
            changed = re.sub(rf":{old}(?=$|[/?#\s])", f":{new}", changed)
        if changed != value:
            new_env[key] = changed
    listens = [int(p.get("target") if isinstance(p, dict) else str(p).split(":")[-1].split("/")[0])
               for p in service.get("ports") or []]
    if image_port in listens and image_port in moved and "PCE_BIND" not in env:
        new_env["PCE_BIND"] = f"0.0.0.0:{moved[image_port]}"
    lines.append(f"  {json.dumps(name)}:")
    lines.append("    network_mode: host")
    if service.get("ports"):
        lines.append("    ports: !reset []")
    lines.append("    networks: !reset {}")
    if "build" in service:
        lines.append("    build:")
        lines.append("      network: host")
    others = [alias for other in services if other != name for alias in names[other]]
    if others:
        lines.append("    extra_hosts:")
        lines += [f"      - {json.dumps(other + ':127.0.0.1')}" for other in others]
    if new_env:
        lines.append("    environment:")
        lines += [f"      {json.dumps(k)}: {json.dumps(v)}" for k, v in new_env.items()]
    # On the host network a port below 1024 needs root: Docker's own networks let any user bind
    # one, the host's do not. Only this check runs such a service as root.
    low = [v for v in list(env.values()) + list(new_env.values())
           if re.search(r"^[0-9.]*:([0-9]+)$", v) and int(v.rsplit(":", 1)[1]) < 1024]
    if low:
        lines.append('    user: "0:0"')
    if str(service.get("restart", "")) == "no":
        clients.append(name)
# No network of the compose file is created: on this engine it would be a bridge on the machine.
lines.append("networks: !reset {}")
open(out, "w").write("\n".join(lines) + "\n")
print(" ".join(clients))
EOF
}

check_compose() {
    local file=$1 n=$2 project override clients client t0
    project=pce-check-$$-$n
    override="$LOGS/override-$project.yml"
    clients=$(compose_override "$file" "$override")
    [ -n "$clients" ] || fail "$file has no one-shot client service (restart: \"no\")"
    PROJECTS+=("$file|$project")
    local dc=(compose --ansi never -p "$project" -f "/repo/$file" -f "/repo/${override#"$REPO"/}")
    d "${dc[@]}" config -q || fail "$file with its host-network override is not a valid compose file"
    for client in $clients; do
        say "compose: $file up --build, until $client exits (project $project)"
        t0=$SECONDS
        interruptible d "${dc[@]}" up --build --exit-code-from "$client" "$client" >"$LOGS/compose-$project-$client.log" 2>&1 || {
            sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$LOGS/compose-$project-$client.log" | tail -n 60 >&2
            fail "$client of $file did not exit 0"
        }
        sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$LOGS/compose-$project-$client.log" \
            | { grep -E "^$client-[0-9]+ +\| " || true; } | sed 's/^/   /'
        echo "   ok: $client exited 0 ($((SECONDS - t0)) s)"
    done
    d "${dc[@]}" down -v --remove-orphans --timeout 5 >/dev/null 2>&1 || fail "compose down failed for $file"
    # The engine must never have made a network of its own (a bridge on the machine).
    local networks
    networks=$(d network ls --format '{{.Driver}}' | sort -u | tr '\n' ' ')
    [ "$networks" = "host null " ] || fail "the engine has networks other than host and none: $networks"
}

# --- Main ---------------------------------------------------------------------------------------
if [ $# -gt 0 ]; then
    COMPOSE_FILES=("$@")
else
    mapfile -t COMPOSE_FILES < <(cd "$REPO" && ls docker/*compose*.yml docker/*compose*.yaml 2>/dev/null | sort)
fi
for file in "${COMPOSE_FILES[@]}"; do
    [ -f "$REPO/$file" ] || fail "no compose file $file (give paths relative to the repository root)"
done

say "host tools"
need_host_tools
MIRROR=$(debian_mirror)
say "roots (cache $CACHE; Debian $SUITE from the apt-configured mirror $MIRROR)"
base_root
ENGINE_KEY=$(key_of "$(declare -f build_engine_root derive in_root)" "$BASE_KEY")
ENGINE_ROOT=$(cached_root engine "$ENGINE_KEY" build_engine_root)
mkdir -p "$CACHE/engine-data"

# A run that was killed (SIGKILL: no cleanup) may have left its dockerd on the cached data.
if [ -f "$CACHE/dockerd.pid" ]; then
    old=$(cat "$CACHE/dockerd.pid")
    if [ -n "$old" ] && [ "$(cat "/proc/$old/comm" 2>/dev/null)" = dockerd ]; then
        echo "   stopping dockerd $old, left by a check that was killed"
        kill -TERM "$old" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$old" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$old" 2>/dev/null || true
    fi
    rm -f "$CACHE/dockerd.pid"
fi
say "engine: dockerd in a private mount namespace, pivot_root'ed into the $SUITE root, host networking only"
unshare -m --propagation private bash "$REPO/docker/check-image.sh" __engine "$ENGINE_ROOT" "$CACHE/engine-data" "$REPO" \
    >"$LOGS/dockerd.log" 2>&1 &
DPID=$!
echo "$DPID" >"$CACHE/dockerd.pid"
for _ in $(seq 150); do
    DNS=$(readlink "/proc/$DPID/ns/mnt" 2>/dev/null || true)
    kill -0 "$DPID" 2>/dev/null || { tail -n 30 "$LOGS/dockerd.log" >&2; fail "dockerd exited"; }
    [ "$DNS" != "$(readlink /proc/self/ns/mnt)" ] && d version >/dev/null 2>&1 && break
    sleep 0.2
done
d version --format '   engine {{.Server.Version}}, client {{.Client.Version}}' || { tail -n 30 "$LOGS/dockerd.log" >&2; fail "dockerd did not answer"; }
d compose version | sed 's/^/   /'

say "base images (PCE_CHECK_BASES=$BASES)"
provide_bases

say "build: DOCKER_BUILDKIT=0 docker build --network host -f docker/Dockerfile -t $IMAGE ."
build_args=(build --network host -f docker/Dockerfile -t "$IMAGE")
[ "${PCE_CHECK_NO_CACHE:-}" = 1 ] && build_args+=(--no-cache)
t0=$SECONDS
interruptible d "${build_args[@]}" . >"$LOGS/build.log" 2>&1 || {
    tail -n 60 "$LOGS/build.log" >&2
    fail "docker build failed (${LOGS#"$REPO"/}/build.log)"
}
BUILD_S=$((SECONDS - t0))
# The build stage's layers are the dependency cache, but no tagged image refers to them (the image
# is the runtime stage): tag the stage (all cache hits), so that pruning keeps them.
d build --network host -f docker/Dockerfile --target build -t pce-check/build-stage:latest . >"$LOGS/build-stage.log" 2>&1 \
    || fail "tagging the build stage failed (${LOGS#"$REPO"/}/build-stage.log)"
grep -E '^(Sending build context|Step [0-9]+/[0-9]+ : (FROM|RUN))' "$LOGS/build.log" | cut -c1-110 | sed 's/^/   /'
cached=$(grep -c 'Using cache' "$LOGS/build.log" || true)
SIZE=$(d image inspect -f '{{.Size}}' "$IMAGE")
BINARY=$(d run --rm --network host --entrypoint partner-center-emulator "$IMAGE" --version 2>/dev/null || true)
CONTAINER=pce-check-size-$$
d create --name "$CONTAINER" "$IMAGE" 2>&1 >/dev/null | { grep -v 'IPv4 forwarding is disabled' || true; } >&2
BIN_SIZE=$(d cp "$CONTAINER:/usr/local/bin/partner-center-emulator" - | tar -xO | wc -c)
d rm "$CONTAINER" >/dev/null
CONTAINER=""
echo "   built in $BUILD_S s ($cached steps from the layer cache)"
python3 -c "print(f'   image {$SIZE / 1e6:.1f} MB ({$SIZE} bytes), binary {$BIN_SIZE / 1e6:.2f} MB, on $BASE_NOTE')"
[ -n "$BINARY" ] && echo "   $BINARY"
labels=$(d image inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}} {{.Config.User}} {{.Config.StopSignal}}' "$IMAGE")
[ "$labels" = "$VERSION 65532:65532 SIGTERM" ] || fail "image config: version label, user, stop signal are '$labels'"
echo "   ok: OCI version label $VERSION, USER 65532:65532, STOPSIGNAL SIGTERM"

check_container

n=0
for file in "${COMPOSE_FILES[@]}"; do
    n=$((n + 1))
    check_compose "$file" "$n"
done

python3 -c "print(f'summary: image {$SIZE / 1e6:.1f} MB on $BASE_NOTE; build {$BUILD_S} s; check {$(date +%s) - $STARTED} s in all')"
