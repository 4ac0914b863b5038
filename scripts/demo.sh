#!/usr/bin/env bash
# Install everything (scripts/setup.sh), then run the main job on the built-in lab: bring up the
# two-node pair, show it, run the readiness checks of the active node (xcatmn1) and of the standby
# node (xcatmn2) over SSH, fail over xcatmn1 -> xcatmn2 with every stage gated by the checks, check
# the pair for drift, and take the lab down again. Every step writes its reports under reports/.
# The lab comes down whatever happens; the exit status is that of the first step that failed.
# XCATHA_LAB=NAME picks another lab name than "lab".
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=.venv/bin
LAB_NAME=${XCATHA_LAB:-lab}
export XCATHA_LAB=$LAB_NAME

log() { printf '%s demo: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*"; }

nstep=0
step() {  # step DESCRIPTION -- COMMAND...
    local what=$1
    shift 2
    nstep=$((nstep + 1))
    printf '\n'
    log "step $nstep: $what"
    log "\$ $*"
    "$@"
}

lab_armed=0
finish() {
    local status=$?
    trap - EXIT
    if [[ $lab_armed == 1 ]]; then
        local down=0
        step "take the lab down" -- "$BIN/xcatha-lab" down || down=$?
        if [[ $status == 0 ]]; then
            status=$down
        fi
    fi
    printf '\n'
    if [[ $status == 0 ]]; then
        log "demo finished; reports are in $(pwd)/reports"
    else
        log "demo FAILED (exit $status) at step $failed_step"
    fi
    exit "$status"
}
trap finish EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

failed_step="install (scripts/setup.sh)"
step "install everything (scripts/setup.sh)" -- bash scripts/setup.sh

# Never take down a lab this run did not build (another demo or test run on this machine).
existing=$("$BIN/xcatha-lab" status --json 2>/dev/null || true)
if [[ $existing == *'"running": true'* ]]; then
    failed_step="check that no lab $LAB_NAME is up"
    log "lab '$LAB_NAME' is already up on this machine; leaving it alone."
    log "if nothing else is using it, take it down first: $BIN/xcatha-lab down"
    exit 2
fi

lab_armed=1
failed_step="xcatha-lab up"
step "build the lab: xcatmn1 active with the VIP and shared storage, xcatmn2 standby" -- "$BIN/xcatha-lab" up

failed_step="xcatha-lab status"
step "show what runs where" -- "$BIN/xcatha-lab" status

failed_step="xcatha-lab inventory"
INVENTORY=$("$BIN/xcatha-lab" inventory)
log "lab inventory: $INVENTORY"

failed_step="active checks on xcatmn1"
step "readiness checks of phase 'active' on xcatmn1, over SSH (writes an HTML report)" -- \
    "$BIN/xcatha-verify" --inventory "$INVENTORY" --node xcatmn1 active

failed_step="standby checks on xcatmn2"
step "readiness checks of phase 'standby' on xcatmn2, over SSH (writes an HTML report)" -- \
    "$BIN/xcatha-verify" --inventory "$INVENTORY" --node xcatmn2 standby

failed_step="planned failover xcatmn1 -> xcatmn2"
step "planned failover xcatmn1 -> xcatmn2, each stage gated by the checks (run report: reports/*-failover/index.html)" -- \
    "$BIN/xcatha-run" --inventory "$INVENTORY" failover --from xcatmn1 --to xcatmn2 --yes

failed_step="drift check of the pair"
step "drift: both nodes against their new roles (xcatmn2 active, xcatmn1 standby) plus the pair checks" -- \
    "$BIN/xcatha-verify" --inventory "$INVENTORY" drift

failed_step="xcatha-lab down"
