# shellcheck shell=sh
# The system around the agent: the platform root in the system trust store, the WireGuard
# tunnel (through systemd, or brought up directly) and the services that use the written files.

use_systemd() {
    [ "${CDM_NO_SYSTEMD:-0}" != 1 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

install_trust() {
    if [ "${CDM_NO_TRUST_STORE:-0}" = 1 ]; then
        say "trust store: skipped (CDM_NO_TRUST_STORE=1)"
        return 0
    fi
    if [ ! -d /usr/local/share/ca-certificates ] || ! command -v update-ca-certificates >/dev/null 2>&1; then
        say "trust store: none found (no /usr/local/share/ca-certificates or update-ca-certificates);" \
            "rauc-hawkbit-updater needs $STATE_DIR/root-ca.pem in the system's CA bundle: bake it into the image"
        return 0
    fi
    before=$CHANGED
    place "$STATE_DIR/root-ca.pem" /usr/local/share/ca-certificates/cdm-platform-root.crt 0644
    if [ "$CHANGED" != "$before" ]; then
        update-ca-certificates >/dev/null 2>&1 || say "trust store: update-ca-certificates failed"
        say "trust store: installed the platform root"
    fi
}

wg_up_directly() {
    conf=$ETC_DIR/wireguard/$WG_IF.conf
    if ip link show dev "$WG_IF" >/dev/null 2>&1; then
        changed "$conf" || return 0
        say "WireGuard: $WG_IF changed; bringing it down"
        if [ "${CDM_WG_QUICK:-1}" != 0 ] && command -v wg-quick >/dev/null 2>&1; then
            wg-quick down "$conf" >/dev/null 2>&1 || ip link delete dev "$WG_IF" 2>/dev/null || true
        else
            ip link delete dev "$WG_IF" 2>/dev/null || true
        fi
    fi
    if [ "${CDM_WG_QUICK:-1}" != 0 ] && command -v wg-quick >/dev/null 2>&1; then
        wg-quick up "$conf" >"$STAGE/wg.log" 2>&1 || die 1 "WireGuard: wg-quick up failed: $(cat "$STAGE/wg.log")"
        say "WireGuard: $WG_IF up (wg-quick)"
        return 0
    fi
    # Without wg-quick (it needs bash): the same with ip and wg.
    sed '/^[[:space:]]*\(Address\|DNS\|MTU\|Table\|PreUp\|PostUp\|PreDown\|PostDown\|SaveConfig\)[[:space:]]*=/d' \
        "$conf" >"$STAGE/wg.strip"
    if ! ip link add dev "$WG_IF" type wireguard 2>/dev/null; then
        command -v wireguard-go >/dev/null 2>&1 ||
            die 1 "WireGuard: cannot create $WG_IF (no kernel module, no wireguard-go)"
        wireguard-go "$WG_IF" >"$STAGE/wg.log" 2>&1 || die 1 "WireGuard: wireguard-go failed: $(cat "$STAGE/wg.log")"
    fi
    wg setconf "$WG_IF" "$STAGE/wg.strip"
    ip address add "$(field '.wireguard.address')" dev "$WG_IF"
    ip link set dev "$WG_IF" up
    for route in $(field '.wireguard.allowed_ips[]'); do
        ip route replace "$route" dev "$WG_IF"
    done
    say "WireGuard: $WG_IF up (ip and wg)"
}

start_services() {
    if [ "${CDM_NO_SERVICES:-0}" = 1 ]; then
        say "services: skipped (CDM_NO_SERVICES=1)"
        return 0
    fi
    if ! use_systemd; then
        wg_up_directly
        say "services: no systemd; start rauc-hawkbit-updater, telegraf, the MQTT publisher and ttyd from your init"
        return 0
    fi
    for unit in $SERVICES; do
        if ! systemctl cat "$unit" >/dev/null 2>&1; then
            say "services: $unit is not installed; skipped"
            continue
        fi
        systemctl enable "$unit" >/dev/null 2>&1 || say "services: could not enable $unit"
        if [ -n "$CHANGED" ]; then
            systemctl restart "$unit" || say "services: could not restart $unit"
        else
            systemctl start "$unit" || say "services: could not start $unit"
        fi
    done
}
