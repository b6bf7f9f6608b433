#!/usr/bin/env bash
# WireGuard for the integration tests: wireguard-go (userspace, for nodes without the kernel
# module, as here) and wg from Debian, with iproute2 for network namespaces and iptables for the
# server's packet filter, and ping (iputils) to see a tunnel answer. The tests make their own
# namespaces and interfaces (they need root).
#   scripts/peers/wireguard.sh install   install if needed
set -euo pipefail

case "${1:-}" in
    install)
        if ! command -v wireguard-go >/dev/null || ! command -v wg >/dev/null || ! command -v iptables-restore >/dev/null ||
            ! command -v ping >/dev/null; then
            echo "wireguard: installing wireguard-go, wireguard-tools, iproute2, iptables and iputils-ping" >&2
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wireguard-go wireguard-tools iproute2 iptables iputils-ping >/dev/null
        fi
        ;;
    *) echo "usage: $0 install" >&2; exit 2 ;;
esac
