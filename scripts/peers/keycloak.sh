#!/usr/bin/env bash
# Keycloak for the integration tests: the distribution from Maven Central
# (org.keycloak:keycloak-quarkus-dist), fetched with mvn and unpacked once into the cache. It
# needs Java 21 or later; the newest JDK under /usr/lib/jvm is used (Temurin 25 on this machine
# kind). The tests start their own Keycloak in dev mode on loopback.
#   scripts/peers/keycloak.sh install   fetch if needed; print "<keycloak home> <java home>"
set -euo pipefail

version="${CDM_KEYCLOAK_VERSION:-26.7.3}"
cache="${CDM_PEERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cdm-platform}/keycloak"
home="$cache/keycloak-$version"

java_home() {
    local jdk version_line major
    while IFS= read -r jdk; do
        [ -x "$jdk/bin/java" ] || continue
        version_line="$("$jdk/bin/java" -version 2>&1 | head -n 1)"
        major="$(printf '%s' "$version_line" | sed -E 's/.*version "([0-9]+).*/\1/')"
        if [ "$major" -ge 21 ] 2>/dev/null; then printf '%s' "${jdk%/}"; return; fi
    done < <(printf '%s\n' /usr/lib/jvm/*/ | sort -rV)
    echo "keycloak: no JDK 21 or later under /usr/lib/jvm" >&2
    exit 1
}

case "${1:-}" in
    install)
        if [ ! -x "$home/bin/kc.sh" ]; then
            echo "keycloak: fetching keycloak-quarkus-dist $version from Maven Central" >&2
            mkdir -p "$cache"
            mvn -q dependency:copy -Dartifact="org.keycloak:keycloak-quarkus-dist:$version:tar.gz" -DoutputDirectory="$cache" >&2
            tar -xzf "$cache/keycloak-quarkus-dist-$version.tar.gz" -C "$cache"
            rm -f "$cache/keycloak-quarkus-dist-$version.tar.gz"
        fi
        echo "$home $(java_home)"
        ;;
    *) echo "usage: $0 install" >&2; exit 2 ;;
esac
