#!/usr/bin/env bash
# step-ca and the step CLI for the integration tests, built from the Go module proxy with
# `go install` and cached, so only the first run on a machine pays for the build (about a minute
# on two cores). The tests start their own step-ca processes with configs made by the program.
#   scripts/peers/step-ca.sh install   build if needed; print the directory holding both binaries
#   scripts/peers/step-ca.sh path      print that directory without building
set -euo pipefail

version="${CDM_STEP_VERSION:-v0.30.2}"
cache="${CDM_PEERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cdm-platform}/step-$version"

build() {
    local module="$1" command="$2"
    if [ ! -x "$cache/$command" ]; then
        echo "step-ca: building $module@$version (cached in $cache)" >&2
        mkdir -p "$cache"
        # CGO off: the YubiKey (pcsclite) support is not needed and would need C headers.
        CGO_ENABLED=0 GOBIN="$cache" GOFLAGS=-buildvcs=false go install "$module/cmd/$command@$version" >&2
    fi
}

case "${1:-}" in
    install)
        build github.com/smallstep/certificates step-ca
        build github.com/smallstep/cli step
        echo "$cache"
        ;;
    path) echo "$cache" ;;
    *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
