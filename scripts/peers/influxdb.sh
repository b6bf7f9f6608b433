#!/usr/bin/env bash
# InfluxDB 2 (influxd) for the integration tests, built from the Go module proxy and cached, so
# only the first run on a machine pays for the build (about six minutes on two cores: influxd
# links libflux, Flux's Rust library, which InfluxData's pkg-config wrapper builds with cargo from
# the flux module's sources). The tests start their own influxd. The influx CLI is not built: the
# Go module proxy does not serve github.com/influxdata/influx-cli/v2 (403).
#   scripts/peers/influxdb.sh install   build if needed; print the directory holding influxd
#   scripts/peers/influxdb.sh path      print that directory without building
set -euo pipefail

version="${CDM_INFLUXDB_VERSION:-v2.9.1}"
cache="${CDM_PEERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cdm-platform}/influxdb-$version"

build_influxd() {
    [ -x "$cache/influxd" ] && return
    echo "influxdb: building influxd $version (cached in $cache)" >&2
    local work dir
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' RETURN
    dir="$(go mod download -json "github.com/influxdata/influxdb/v2@$version" |
        sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
    cp -r "$dir" "$work/src"
    chmod -R u+w "$work/src"
    # The pkg-config wrapper at the version influxd's go.mod names builds libflux with cargo.
    (cd "$work/src" && GOBIN="$work/bin" go install \
        "github.com/influxdata/pkg-config@$(go list -m -f '{{.Version}}' github.com/influxdata/pkg-config)") >&2
    mkdir -p "$cache"
    # flux pins an old Rust toolchain that cannot be downloaded here; the installed one builds it.
    (cd "$work/src" && PATH="$work/bin:$PATH" RUSTUP_TOOLCHAIN="${CDM_RUST_TOOLCHAIN:-stable}" \
        GOFLAGS=-buildvcs=false go build -o "$cache/influxd" ./cmd/influxd) >&2
}

case "${1:-}" in
    install)
        build_influxd
        echo "$cache"
        ;;
    path) echo "$cache" ;;
    *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
