#!/usr/bin/env bash
# Real RAUC for the integration tests, from Debian's packages: rauc (1.8), grub-common
# (grub-editenv: RAUC's GRUB backend keeps the slots' boot state in a GRUB environment file),
# squashfs-tools (rauc bundle) and dbus (a private session bus for `rauc service`).
#   scripts/peers/rauc.sh install   install what is missing
set -euo pipefail

install() {
    local missing=()
    command -v rauc >/dev/null || missing+=(rauc)
    command -v grub-editenv >/dev/null || missing+=(grub-common)
    command -v mksquashfs >/dev/null || missing+=(squashfs-tools)
    command -v dbus-daemon >/dev/null || missing+=(dbus)
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "rauc: installing ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

case "${1:-}" in
    install) install ;;
    *)
        echo "usage: $0 install" >&2
        exit 2
        ;;
esac
