#!/usr/bin/env bash
# ThingsBoard's expression language for the integration tests: the engine tb-node embeds
# (org.thingsboard:tbel, on Maven Central, unlike ThingsBoard's server artifacts), fetched once
# into the cache with a small runner (tests/support/tbel/TbelRun.java) compiled beside it.
#   scripts/peers/tbel.sh install   fetch and build if needed; print the runner's class path
set -euo pipefail

version="1.2.8"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${CDM_PEERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cdm-platform}/tbel-$version"
jar="$cache/tbel-$version.jar"
source_file="$root/tests/support/tbel/TbelRun.java"

install() {
    mkdir -p "$cache"
    if [ ! -f "$jar" ]; then
        echo "tbel: fetching org.thingsboard:tbel:$version from Maven Central" >&2
        mvn -q -B dependency:copy -Dartifact="org.thingsboard:tbel:$version" -DoutputDirectory="$cache" >&2
    fi
    # Rebuilt when the runner's source changes.
    if [ ! -f "$cache/TbelRun.class" ] || [ "$source_file" -nt "$cache/TbelRun.class" ]; then
        javac -d "$cache" -cp "$jar" "$source_file" >&2
    fi
    printf '%s\n' "$cache:$jar"
}

case "${1:-}" in
    install) install ;;
    *)
        echo "usage: $0 install" >&2
        exit 2
        ;;
esac
