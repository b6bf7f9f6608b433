#!/bin/sh
# The tenant's WireGuard server, the entrypoint of the VPN image's `wireguard` container. In the
# pod's network namespace: applies the packet filter first (nothing passes before it is in
# place), brings up the interface (kernel WireGuard when the node has the module, wireguard-go
# otherwise) with the server key and address, then stays in the foreground until stopped. Peers
# are not its business: the peer-sync agent beside it sets them live.
#
# Needs root with CAP_NET_ADMIN, and CAP_MKNOD where /dev/net/tun must be made for wireguard-go.
# Variables (all required but WG_INTERFACE and WG_LISTEN_PORT):
#   WG_INTERFACE         interface name (wg0)
#   WG_ADDRESS           the server's address with the VPN's prefix length (10.8.0.1/16)
#   WG_LISTEN_PORT       UDP port (51820)
#   WG_PRIVATE_KEY_FILE  the server's private key (base64, as `wg genkey` writes it)
#   WG_FIREWALL_FILE     iptables-restore input for the pod's filter table
#   WG_STOP_DELAY_SECONDS  on SIGTERM, how long the interface stays up (0): the terminal proxy
#                        beside it drains its sessions meanwhile
set -eu

iface="${WG_INTERFACE:-wg0}"
port="${WG_LISTEN_PORT:-51820}"
: "${WG_ADDRESS:?WG_ADDRESS is required (the server address with prefix length, e.g. 10.8.0.1/16)}"
: "${WG_PRIVATE_KEY_FILE:?WG_PRIVATE_KEY_FILE is required (the server private key file)}"
: "${WG_FIREWALL_FILE:?WG_FIREWALL_FILE is required (the packet filter, iptables-restore input)}"

stop_delay="${WG_STOP_DELAY_SECONDS:-0}"

log() { printf 'wireguard-server: %s\n' "$*" >&2; }

for file in "$WG_PRIVATE_KEY_FILE" "$WG_FIREWALL_FILE"; do
    [ -r "$file" ] || { log "cannot read $file"; exit 2; }
done

userspace_pid=""
# Whatever way this ends (a failed step, a signal), the interface goes with it.
# shellcheck disable=SC2317 # run by the trap below
cleanup() {
    ip link delete "$iface" 2>/dev/null || true
    if [ -n "$userspace_pid" ]; then wait "$userspace_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT
# shellcheck disable=SC2317 # run by the trap below
stop() {
    trap - TERM INT
    if [ "$stop_delay" -gt 0 ]; then
        log "stopping in ${stop_delay}s"
        sleep "$stop_delay"
    fi
    exit 0
}
trap stop TERM INT

iptables-restore <"$WG_FIREWALL_FILE"
# A container restarted in the same pod finds the interface of its predecessor (kernel
# WireGuard outlives the process): start from none.
ip link delete "$iface" 2>/dev/null || true

if ip link add "$iface" type wireguard 2>/dev/null; then
    log "kernel WireGuard on $iface"
else
    # No module on the node: wireguard-go needs the TUN device, which a pod is not given.
    if [ ! -c /dev/net/tun ]; then
        mkdir -p /dev/net
        mknod /dev/net/tun c 10 200
    fi
    WG_PROCESS_FOREGROUND=1 wireguard-go "$iface" &
    userspace_pid=$!
    tries=0
    until ip link show "$iface" >/dev/null 2>&1 && wg show "$iface" >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ "$tries" -gt 100 ] || ! kill -0 "$userspace_pid" 2>/dev/null; then
            log "wireguard-go did not bring up $iface"
            exit 1
        fi
        sleep 0.1
    done
    log "wireguard-go on $iface"
fi

wg set "$iface" private-key "$WG_PRIVATE_KEY_FILE" listen-port "$port"
ip address replace "$WG_ADDRESS" dev "$iface"
ip link set "$iface" up
log "listening on udp/$port as $WG_ADDRESS"

if [ -n "$userspace_pid" ]; then
    # wireguard-go ends when the interface goes away; so does the container then.
    wait "$userspace_pid" || true
    log "wireguard-go exited"
    exit 1
fi
# Kernel WireGuard needs no process: wait for a signal, checking the interface is still there.
while ip link show "$iface" >/dev/null 2>&1; do
    sleep 5 &
    wait $! || true
done
log "$iface disappeared"
exit 1
