#!/usr/bin/env bash
# Install everything xcatha-verify and its lab need on a fresh Debian 12 machine, as root.
# Idempotent: a re-run with everything in place touches neither apt nor pip.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)

log() { printf '%s setup: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }

# Debian packages: the Python toolchain, and the real daemons and tools the lab runs inside its nodes.
PACKAGES=(
    python3 python3-venv python3-dev
    iproute2 util-linux mount procps
    systemd dbus libpam-systemd  # each lab node boots the real systemd as its PID 1
    openssh-client openssh-server
    postgresql-15 postgresql-client-15
    chrony iputils-arping
    libfaketime faketime
    bind9 bind9-utils bind9-dnsutils  # dig: the compute namespace asks the VIP's DNS (tests/observe.py)
    isc-dhcp-client  # dhclient: the compute namespace asks DHCP for its lease (tests/observe.py)
    isc-dhcp-server
    apache2 tftpd-hpa  # httpd (serving /install) and tftp (serving /tftpboot), as a site may add them
    tftp-hpa  # the tftp client: the compute namespace fetches from /tftpboot through the VIP (tests/observe.py)
    conserver-server
    chromium  # the drift pages are checked in a real browser by the tests
    # xCAT's own Perl (xcatha_verify/lab/xcatsource.py PERL_PACKAGES; tests/test_xcatsource.py keeps both lists equal)
    make openssl
    git  # clones the pinned xCAT commit when no tarball is at hand (xcatsource.find_source)
    libdbi-perl libdbd-pg-perl libio-socket-ssl-perl libxml-simple-perl libxml-parser-perl
    libxml-libxml-perl libjson-perl libnet-dns-perl libsocket6-perl libio-socket-inet6-perl
    libcrypt-cbc-perl libcrypt-rijndael-perl libexpect-perl libsoap-lite-perl libnet-telnet-perl
    liblwp-protocol-https-perl  # makegocons: goconserver's REST API through LWP
)

missing_packages() {
    local pkg
    for pkg in "${PACKAGES[@]}"; do
        if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]]; then
            printf '%s\n' "$pkg"
        fi
    done
}

POLICY_RC=/usr/sbin/policy-rc.d
created_policy_rc=0
remove_policy_rc() {
    if [[ $created_policy_rc == 1 ]]; then
        rm -f "$POLICY_RC"
    fi
}

install_packages() {
    local missing
    mapfile -t missing < <(missing_packages)
    if [[ ${#missing[@]} == 0 ]]; then
        log "Debian packages: all ${#PACKAGES[@]} installed, skipping apt"
        return
    fi
    [[ $(id -u) == 0 ]] || die "installing Debian packages needs root (missing: ${missing[*]})"
    log "Debian packages missing: ${missing[*]}"
    # Package postinst scripts must not start daemons in the root namespace: the lab starts its own
    # inside each node. An existing policy-rc.d is the machine's own and is left alone.
    if [[ ! -e $POLICY_RC ]]; then
        trap remove_policy_rc EXIT
        trap 'exit 129' HUP
        trap 'exit 130' INT
        trap 'exit 143' TERM
        printf '#!/bin/sh\n# written by xcatha-verify scripts/setup.sh for the duration of apt-get install\nexit 101\n' \
            >"$POLICY_RC"
        chmod 0755 "$POLICY_RC"
        created_policy_rc=1
        log "created $POLICY_RC (exit 101) for the install"
    fi
    export DEBIAN_FRONTEND=noninteractive
    log "apt-get update"
    apt-get -o Acquire::Retries=3 update -qq
    log "apt-get install ${PACKAGES[*]}"
    apt-get -o Acquire::Retries=3 install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
    remove_policy_rc
    created_policy_rc=0
    trap - EXIT HUP INT TERM
    local still
    mapfile -t still < <(missing_packages)
    [[ ${#still[@]} == 0 ]] || die "still not installed after apt-get: ${still[*]}"
    log "Debian packages installed"
}

quietly() {  # run a command, showing its output only when it fails (build backends warn a lot)
    local out status=0
    out=$(mktemp)
    "$@" >"$out" 2>&1 || status=$?
    if [[ $status != 0 ]]; then
        cat "$out" >&2
        rm -f "$out"
        die "failed (exit $status): $*"
    fi
    rm -f "$out"
}

python_ok() {  # $1: an interpreter; true when it runs and is >= 3.11
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

pick_python() {
    local candidate
    for candidate in python3 /usr/bin/python3 python3.13 python3.12 python3.11; do
        if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
            command -v "$candidate"
            return
        fi
    done
    die "no Python >= 3.11 found (python3 on PATH is $(python3 --version 2>&1 || echo missing))"
}

# What the install below depends on: a change to any of these re-runs pip.
setup_stamp() {
    {
        printf 'python=%s\n' "$(.venv/bin/python -c 'import sys; print(sys.version)')"
        sha256sum pyproject.toml
        printf 'extras=dev\n'
    } | sha256sum | cut -d' ' -f1
}

install_venv() {
    local venv="$REPO/.venv" stampfile="$REPO/.venv/.xcatha-setup-stamp"
    if [[ -e $venv ]] && ! python_ok "$venv/bin/python"; then
        log "existing .venv has no working Python >= 3.11; recreating it"
        rm -rf "$venv"
    fi
    if [[ ! -e $venv ]]; then
        local py
        py=$(pick_python)
        log "creating .venv with $py ($("$py" --version 2>&1))"
        "$py" -m venv "$venv"
    fi
    export PIP_DISABLE_PIP_VERSION_CHECK=1
    if [[ -f $stampfile && "$(cat "$stampfile")" == "$(setup_stamp)" && -x $venv/bin/xcatha-verify ]] \
        && "$venv/bin/python" -c 'import xcatha_verify, wheel, build' 2>/dev/null; then
        log "Python environment .venv up to date, skipping pip"
        return
    fi
    rm -f "$stampfile"
    # setuptools >= 68 and wheel are pyproject's build requirements; having them in .venv lets a wheel
    # be built offline with --no-build-isolation (tests/test_wheel.py does).
    log "upgrading pip, setuptools and wheel in .venv"
    quietly "$venv/bin/python" -m pip install --quiet --upgrade pip 'setuptools>=68' wheel
    log "pip install -e '.[dev]'"
    quietly "$venv/bin/python" -m pip install --quiet -e '.[dev]'
    setup_stamp >"$stampfile"
    log "Python environment ready: $("$venv/bin/python" --version 2>&1) in .venv"
}

log "repository $REPO"
install_packages
install_venv
log "done"
