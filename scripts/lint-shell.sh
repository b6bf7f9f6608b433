#!/usr/bin/env bash
# Every shell script of the repository through shellcheck (Debian's package, installed if
# missing): the peers' scripts, the VPN image's entrypoint, CI, and the device's agent with its
# libraries, RAUC handler and simulated-device entrypoint (POSIX sh).
#   npm run lint:shell
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v shellcheck >/dev/null; then
    echo "lint-shell: installing shellcheck" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
fi
mapfile -t scripts < <(git ls-files '*.sh' .ci/run ':!device-image/')
# The agent with its libraries in one run, so that shellcheck follows what it sources; with them
# RAUC's handler and the simulated device's entrypoint (POSIX sh too).
mapfile -t device < <(git ls-files 'device-image/rootfs/usr/sbin/*' 'device-image/rootfs/usr/lib/cdm/*.sh' \
    'device-image/rootfs/usr/libexec/cdm/*' 'device-image/entrypoint.sh')
shellcheck "${scripts[@]}"
shellcheck -s sh "${device[@]}"
echo "shellcheck: $((${#scripts[@]} + ${#device[@]})) scripts clean"
